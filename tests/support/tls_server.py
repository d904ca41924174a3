"""A real HTTPS server on 127.0.0.1 with a throw-away self-signed certificate (made by the ``openssl`` CLI)."""

from __future__ import annotations

import shutil
import ssl
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any


def make_certificate(directory: Path) -> tuple[Path, Path]:
    """(cert, key) for CN=localhost with subjectAltName 127.0.0.1 and localhost, valid for a day."""
    if shutil.which("openssl") is None:
        raise RuntimeError("the openssl command is needed (apt-get install openssl)")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subject = ["-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"]
    files = ["-keyout", str(key), "-out", str(cert)]
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", *subject, *files],
        check=True,
        capture_output=True,
        timeout=60,
    )
    return cert, key


class TLSServer:
    """``with TLSServer(cert, key) as server: server.url(path)``; records the methods and paths it saw."""

    def __init__(self, cert: Path, key: Path) -> None:
        self.seen: list[tuple[str, str]] = []
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def _answer(self) -> None:
                owner.seen.append((self.command, self.path))
                self.send_response(405)
                self.send_header("Content-Length", "0")
                self.end_headers()

            do_HEAD = do_GET = do_POST = _answer

        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert, key)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)

    def url(self, path: str) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> TLSServer:
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
