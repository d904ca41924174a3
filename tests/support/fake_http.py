"""A real HTTP server on 127.0.0.1 whose answers the test sets per path: JSON, HTML, a status, a 10 MB body,
a hang, or a sequence that changes on every request (flapping). Stand-in for the services and the Airflow API
the watch polls; every request is recorded."""

from __future__ import annotations

import json
import socketserver
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Answer:
    status: int = 200
    body: bytes = b""
    content_type: str = "application/json"
    mode: str = "normal"  # "hang": never answers; "huge": streams `size` bytes of JSON-ish text
    size: int = 0


def json_answer(data: Any, status: int = 200) -> Answer:
    return Answer(status, json.dumps(data).encode())


def html_answer(status: int = 200) -> Answer:
    page = b"<!doctype html><html><body><h1>Sign in</h1><script>alert(1)</script></body></html>"
    return Answer(status, page, "text/html")


HANG = Answer(mode="hang")
HUGE = Answer(mode="huge", size=10_000_000)


@dataclass
class Seen:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes


Route = Callable[[Seen], Answer]


@dataclass
class FakeHTTP:
    """``with FakeHTTP() as server: server.answer("/health", json_answer({...})); server.url("/health")``."""

    routes: dict[str, Route] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._server: socketserver.ThreadingTCPServer | None = None

    def answer(self, path: str, *answers: Answer) -> None:
        """Answer ``path`` with ``answers`` in turn, cycling (one answer: always that one)."""
        count = {"n": 0}

        def route(_: Seen) -> Answer:
            with self._lock:
                chosen = answers[count["n"] % len(answers)]
                count["n"] += 1
            return chosen

        self.routes[path] = route

    def route(self, path: str, handler: Route) -> None:
        self.routes[path] = handler

    def hits(self, path: str) -> list[Seen]:
        with self._lock:
            return [s for s in self.seen if s.path == path]

    def url(self, path: str = "") -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{path}"

    def __enter__(self) -> FakeHTTP:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                owner._handle(self, "GET")

            def do_POST(self) -> None:
                owner._handle(self, "POST")

        class Server(socketserver.ThreadingTCPServer):
            daemon_threads = True
            allow_reuse_address = True
            block_on_close = False

        self._server = Server(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()

    def _handle(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        parts = urlsplit(handler.path)
        length = int(handler.headers.get("Content-Length") or 0)
        seen = Seen(
            method, parts.path, parse_qs(parts.query), dict(handler.headers.items()), handler.rfile.read(length)
        )
        with self._lock:
            self.seen.append(seen)
        route = self.routes.get(parts.path)
        answer = route(seen) if route else Answer(404, b'{"detail": "Not Found"}')
        if answer.mode == "hang":
            self._stop.wait(120)
            handler.close_connection = True
            return
        handler.send_response(answer.status)
        handler.send_header("Content-Type", answer.content_type)
        if answer.mode == "huge":  # no Content-Length: only reading it tells the size
            handler.send_header("Connection", "close")
            handler.end_headers()
            chunk = b'{"status": "ok", "pad": "' + b"x" * 65_000
            sent = 0
            try:
                while sent < answer.size and not self._stop.is_set():
                    handler.wfile.write(chunk)
                    sent += len(chunk)
                    time.sleep(0)
            except OSError:
                pass  # the client stopped reading: what we want
            handler.close_connection = True
            return
        handler.send_header("Content-Length", str(len(answer.body)))
        handler.end_headers()
        handler.wfile.write(answer.body)
