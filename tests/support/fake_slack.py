"""A real, misbehaving Slack incoming-webhook server on 127.0.0.1, for delivery-failure tests.

Each request is answered according to ``mode`` (or the next entry of ``script``): Slack's real answers
(``ok``, ``429`` with ``Retry-After``, ``500 rollup_error``, the permanent 4xx codes) and the network
failures a client must survive (``slow``, ``hang``, ``drip``, ``reset``). ``refused`` is a URL with nothing
listening. Every request is recorded, so tests assert what was delivered and how many tries it took.
"""

from __future__ import annotations

import json
import socket
import socketserver
import struct
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any

TOKEN = "XXXXsecretTOKEN1234567890"  # the secret part of the webhook URL; tests assert it never leaks
PATH = f"/services/T0TEAM/B0HOOK/{TOKEN}"

# mode -> (status, body) for the modes that answer like Slack does.
SLACK_ANSWERS: dict[str, tuple[int, str]] = {
    "ok": (200, "ok"),
    "500": (500, "rollup_error"),
    "503": (503, "service_unavailable"),
    "429": (429, "rate_limited"),
    "invalid_payload": (400, "invalid_payload"),
    "invalid_blocks": (400, "invalid_blocks"),
    "user_not_found": (400, "user_not_found"),
    "action_prohibited": (403, "action_prohibited"),
    "invalid_token": (403, "invalid_token"),
    "channel_not_found": (404, "channel_not_found"),
    "no_service": (404, "no_service"),
    "channel_is_archived": (410, "channel_is_archived"),
}
PERMANENT_MODES = [m for m, (status, _) in SLACK_ANSWERS.items() if 400 <= status < 500 and status != 429]
NETWORK_MODES = ["slow", "hang", "drip", "reset"]


@dataclass
class Request:
    at: float
    path: str
    body: bytes
    answered: str  # the mode that answered it

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return str(self.json.get("text", ""))


@dataclass
class FakeSlack:
    """``with FakeSlack() as slack: slack.url ...``; change ``slack.mode`` at any time."""

    mode: str = "ok"
    retry_after: str = "1"
    slow_seconds: float = 0.3
    script: deque[str] = field(default_factory=deque)
    requests: list[Request] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    # -- lifecycle -------------------------------------------------------------------------
    def start(self) -> FakeSlack:
        return self.start_on(0)

    def start_on(self, port: int) -> FakeSlack:
        """Listen on ``port`` (0: any free one); reusing a port simulates a webhook coming back."""
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                owner._answer(self, body)

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            block_on_close = False

        self._server = Server(("127.0.0.1", port), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def __enter__(self) -> FakeSlack:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- addresses -------------------------------------------------------------------------
    @property
    def port(self) -> int:
        assert self._server is not None
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}{PATH}"

    # -- what was seen ---------------------------------------------------------------------
    @property
    def delivered(self) -> list[Request]:
        with self._lock:
            return [r for r in self.requests if r.answered == "ok" or r.answered == "slow"]

    def delivered_texts(self) -> list[str]:
        return [r.text for r in self.delivered]

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Poll until ``predicate(self)`` is true; False on timeout (the test then asserts and shows why)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return bool(predicate(self))

    # -- answering -------------------------------------------------------------------------
    def _next_mode(self) -> str:
        with self._lock:
            return self.script.popleft() if self.script else self.mode

    def _answer(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        mode = self._next_mode()
        with self._lock:
            self.requests.append(Request(time.monotonic(), handler.path, body, mode))
        conn = handler.connection
        if mode == "hang":
            self._stop.wait(120)
            handler.close_connection = True
            return
        if mode == "reset":
            conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            handler.close_connection = True
            conn.close()
            return
        if mode == "drip":
            # One byte every 0.5 s, forever: an endless header keeps per-read timeouts from ever firing.
            raw = b"HTTP/1.1 200 OK\r\n" + b"X-Drip: 1\r\n" * 10_000
            for i in range(len(raw)):
                if self._stop.wait(0.5):
                    break
                try:
                    conn.sendall(raw[i : i + 1])
                except OSError:
                    break
            handler.close_connection = True
            return
        if mode == "slow":
            time.sleep(self.slow_seconds)
            mode = "ok"
        status, text = SLACK_ANSWERS[mode]
        payload = text.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/plain")
        handler.send_header("Content-Length", str(len(payload)))
        if status == 429:
            handler.send_header("Retry-After", self.retry_after)
        handler.end_headers()
        handler.wfile.write(payload)


def refused_url() -> str:
    """A webhook URL on 127.0.0.1 where nothing listens: connecting is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}{PATH}"


def main() -> None:
    """``python -m tests.support.fake_slack --mode hang``: serve until stdin closes; prints the URL first."""
    import argparse
    import sys

    parser = argparse.ArgumentParser()
    parser.add_argument("--mode", default="ok")
    args = parser.parse_args()
    with FakeSlack(mode=args.mode) as server:
        sys.stdout.write(server.url + "\n")
        sys.stdout.flush()
        sys.stdin.read()


if __name__ == "__main__":
    main()
