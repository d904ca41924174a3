"""``python -m alerts_lib check --live``: can this machine reach a webhook? Nothing is posted.

One bounded attempt per webhook, each step within what is left of one deadline: resolve the host name (DNS),
open a TCP connection, for https:// complete a TLS handshake verified against the trust store delivery uses
(httpx's: certifi, or ``SSL_CERT_FILE``/``SSL_CERT_DIR``), then send ``HEAD /`` and read the status line.
Any HTTP answer means reachable. The webhook's path (its secret) is never sent, so nothing can be posted and
nothing is triggered; it also means a revoked token looks reachable: only ``send`` proves the token.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
import time
import urllib.request
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

REACHABLE = "reachable"
UNREACHABLE = "unreachable"
TLS_ERROR = "tls error"
DNS_ERROR = "dns error"

_AddrInfo = list[tuple[Any, ...]]


@dataclass(frozen=True)
class Probe:
    """What one probe found: a ``status`` (one of the four above) and a detail in words, with no secret."""

    status: str
    detail: str
    seconds: float

    @property
    def ok(self) -> bool:
        return self.status == REACHABLE


class _Failed(Exception):
    def __init__(self, status: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail


def probe(url: str, timeout: float = 5.0) -> Probe:
    """Probe ``url`` within ``timeout`` seconds (plus scheduling noise); never raises."""
    started = time.monotonic()
    deadline = started + timeout
    try:
        status, detail = REACHABLE, _probe(url, deadline)
    except _Failed as failed:
        status, detail = failed.status, failed.detail
    except Exception as exc:  # an exotic failure is a finding, not a crash of the CLI
        status, detail = UNREACHABLE, f"unexpected error ({type(exc).__name__})"
    return Probe(status, detail + _proxy_note(url), time.monotonic() - started)


def _probe(url: str, deadline: float) -> str:
    parts = urlsplit(url.strip())
    host = parts.hostname or ""
    tls = parts.scheme == "https"
    port = parts.port or (443 if tls else 80)
    addresses = _resolve(host, port, deadline)
    sock = _connect(addresses, deadline)
    try:
        if tls:
            sock = _handshake(sock, host, deadline)
        code = _head(sock, host if parts.port is None else f"{host}:{port}", deadline)
    finally:
        with contextlib.suppress(OSError):
            sock.close()
    return f"HTTP {code} to HEAD /" + (", TLS certificate verified" if tls else ", plain http")


def _left(deadline: float, step: str) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise _Failed(DNS_ERROR if step == "DNS" else UNREACHABLE, f"{step}: out of time")
    return left


def _resolve(host: str, port: int, deadline: float) -> _AddrInfo:
    """getaddrinfo has no timeout of its own: it runs in a daemon thread that we stop waiting for."""
    found: list[_AddrInfo | BaseException] = []

    def lookup() -> None:
        try:
            found.append(socket.getaddrinfo(host, port, type=socket.SOCK_STREAM))
        except BaseException as exc:
            found.append(exc)

    thread = threading.Thread(target=lookup, name="alerts_lib-check-dns", daemon=True)
    thread.start()
    thread.join(_left(deadline, "DNS"))
    if not found:
        raise _Failed(DNS_ERROR, f"no answer from DNS for {host} within the timeout")
    result = found[0]
    if isinstance(result, socket.gaierror):
        raise _Failed(DNS_ERROR, f"{host} does not resolve ({result.strerror})")
    if isinstance(result, BaseException):
        raise _Failed(DNS_ERROR, f"{host} does not resolve ({type(result).__name__})")
    if not result:
        raise _Failed(DNS_ERROR, f"{host} has no address")
    return result


def _connect(addresses: _AddrInfo, deadline: float) -> socket.socket:
    """A TCP connection to the first address that accepts one."""
    why = "no address to connect to"
    for family, kind, proto, _, address in addresses:
        sock = socket.socket(family, kind, proto)
        try:
            sock.settimeout(_left(deadline, "connect"))
            sock.connect(address)
            return sock
        except _Failed:
            sock.close()
            raise
        except TimeoutError:
            why = f"no answer from {_show(address)} within the timeout"
        except ConnectionRefusedError:
            why = f"connection refused by {_show(address)} (nothing listens there)"
        except OSError as exc:
            why = f"cannot connect to {_show(address)} ({exc.strerror or type(exc).__name__})"
        sock.close()
    raise _Failed(UNREACHABLE, why)


def _handshake(sock: socket.socket, host: str, deadline: float) -> ssl.SSLSocket:
    context = httpx.create_ssl_context()  # the trust store and checks delivery uses
    try:
        sock.settimeout(_left(deadline, "TLS handshake"))
        return context.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as exc:
        raise _Failed(TLS_ERROR, f"certificate not trusted: {exc.verify_message}") from None
    except ssl.SSLError as exc:
        raise _Failed(TLS_ERROR, f"handshake failed: {exc.reason or type(exc).__name__}") from None
    except TimeoutError:
        raise _Failed(TLS_ERROR, "no TLS handshake answer within the timeout") from None
    except OSError as exc:
        raise _Failed(TLS_ERROR, f"connection lost during the handshake ({type(exc).__name__})") from None


def _head(sock: socket.socket, host_header: str, deadline: float) -> int:
    """``HEAD /`` (safe by definition, no path, no body) and the status code of the answer."""
    if ":" in host_header.split("]")[0] and not host_header.startswith("["):
        host_header = f"[{host_header}]"  # a bare IPv6 literal
    request = f"HEAD / HTTP/1.1\r\nHost: {host_header}\r\nUser-Agent: alerts_lib-check\r\nConnection: close\r\n\r\n"
    answer = b""
    try:
        sock.settimeout(_left(deadline, "HTTP"))
        sock.sendall(request.encode("ascii", "replace"))
        while b"\r\n" not in answer and len(answer) < 1024:
            sock.settimeout(_left(deadline, "HTTP"))
            chunk = sock.recv(1024)
            if not chunk:
                break
            answer += chunk
    except TimeoutError:
        raise _Failed(UNREACHABLE, "connected, but no HTTP answer within the timeout") from None
    except OSError as exc:
        raise _Failed(UNREACHABLE, f"connected, but the connection failed ({type(exc).__name__})") from None
    words = answer.split(b"\r\n", 1)[0].split()
    if len(words) < 2 or not words[0].startswith(b"HTTP/") or not words[1].isdigit():
        raise _Failed(UNREACHABLE, "connected, but the answer is not HTTP")
    return int(words[1])


def _show(address: tuple[Any, ...]) -> str:
    host, port = address[0], address[1]
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"


def _proxy_note(url: str) -> str:
    """Delivery honours HTTP(S)_PROXY (httpx's trust_env); this probe connects directly, and says so."""
    try:
        parts = urlsplit(url.strip())
        proxies = urllib.request.getproxies()
        if (parts.scheme in proxies or "all" in proxies) and not urllib.request.proxy_bypass(parts.hostname or ""):
            return " (connected directly: delivery goes through the configured proxy)"
    except Exception:  # noqa: S110  (a note, never a reason to fail)
        pass
    return ""
