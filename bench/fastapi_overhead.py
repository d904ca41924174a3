"""What does ``alerts_lib.integrations.fastapi.install(app)`` add to a request's latency?

Three apps, built the same way: two without ``install`` (A and A', an A/A pair that shows the noise floor)
and one with it (B). Each has a trivial ``async def`` endpoint and one that raises. Requests go straight into
the ASGI app in this process, from a minimal driver (no socket, no HTTP client): the app's own stack is then
the whole cost (~0.1 ms), so a middleware's cost shows more than anywhere. Under a real uvicorn the same microsecond
drowns in ~1 ms of socket and HTTP parsing; if it is invisible here, it is invisible there.

Rounds interleave the apps in a rotating order so drift on a noisy machine hits all alike. Prints p50/p99 per
app and path, and the ratios B/A and A'/A (the noise). Target: B/A within the A'/A noise, ≈ 1.0. Last, the
middleware's own cost around an ASGI no-op, which is below what the request figures can resolve.

The raising endpoint measures the alert path too: route template, Alert, queue (a local FakeSlack receives;
storm control merges the repeats), then Starlette's normal 500.

    .venv/bin/python bench/fastapi_overhead.py [--rounds 16] [--requests 1200]
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from fastapi import FastAPI  # noqa: E402

import alerts_lib  # noqa: E402
from alerts_lib.integrations.fastapi import AlertOnError, _Options, install  # noqa: E402
from tests.support.fake_slack import FakeSlack  # noqa: E402

APPS = ("A: without", "A': without (again)", "B: with install")
PATHS = {"GET /ok (200)": "/ok", "GET /boom/{n} (500 + alert)": "/boom/7"}


def build(installed: bool) -> FastAPI:
    app = FastAPI()

    @app.get("/ok")
    async def ok() -> dict[str, bool]:
        return {"ok": True}

    @app.get("/boom/{n}")
    async def boom(n: int) -> None:
        raise RuntimeError("boom")

    if installed:
        install(app, service="bench", startup_alert=False)
    return app


async def request(app: Any, path: str) -> int:
    """One GET through the ASGI interface; returns the status (a raised 500 counts as 500, as a server would)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"bench")],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 80),
        "state": {},
    }
    status = 0

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]

    try:
        await app(scope, receive, send)
    except RuntimeError:
        pass  # ServerErrorMiddleware re-raises after sending the 500, for the server to log
    return status


async def measure(rounds: int, per_round: int) -> dict[tuple[str, str], list[float]]:
    apps = {name: build(installed=name.startswith("B")) for name in APPS}
    samples: dict[tuple[str, str], list[float]] = defaultdict(list)
    clock = time.perf_counter_ns
    for app in apps.values():  # warm up: middleware stacks built, code paths hot
        for path in PATHS.values():
            for _ in range(300):
                await request(app, path)
    for r in range(rounds):
        order = APPS[r % 3 :] + APPS[: r % 3]
        if r % 2:
            order = order[::-1]
        for label, path in PATHS.items():
            want = 200 if path == "/ok" else 500
            for name in order:
                app, bucket = apps[name], samples[(name, label)]
                for _ in range(per_round):
                    started = clock()
                    status = await request(app, path)
                    bucket.append((clock() - started) / 1000)  # µs
                    if status != want:
                        raise SystemExit(f"{name} {path}: HTTP {status}, expected {want}")
                # Untimed: let the worker finish the alerts just queued, so they do not slow the next app.
                await alerts_lib.aflush(10)
    return samples


async def middleware_alone(rounds: int = 10, calls: int = 50_000) -> tuple[float, float]:
    """ns per call of an ASGI no-op app, bare and inside AlertOnError: the middleware's own cost, which the
    request figures cannot resolve below their noise."""

    async def noop(scope: Any, receive: Any, send: Any) -> None:
        return None

    wrapped = AlertOnError(noop, options=_Options(app=None, service="bench", destination=None))
    scope = {"type": "http", "root_path": ""}
    best: dict[str, float] = {}
    for r in range(rounds):
        for name, target in (("bare", noop), ("wrapped", wrapped))[:: 1 if r % 2 else -1]:
            started = time.perf_counter_ns()
            for _ in range(calls):
                await target(scope, None, None)
            per_call = (time.perf_counter_ns() - started) / calls
            best[name] = min(best.get(name, per_call), per_call)
    return best["bare"], best["wrapped"]


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def report(samples: dict[tuple[str, str], list[float]], alone: tuple[float, float], elapsed: float) -> None:
    print(f"{'request':<30}{'app':<22}{'n':>7}{'p50 µs':>10}{'p99 µs':>10}")
    verdicts = []
    for label in PATHS:
        for name in APPS:
            s = samples[(name, label)]
            print(f"{label:<30}{name:<22}{len(s):>7}{statistics.median(s):>10.1f}{pct(s, 99):>10.1f}")
        a, again, b = (samples[(name, label)] for name in APPS)
        p50 = statistics.median(b) / statistics.median(a)
        p99 = pct(b, 99) / pct(a, 99)
        noise50 = statistics.median(again) / statistics.median(a)
        noise99 = pct(again, 99) / pct(a, 99)
        extra = statistics.median(b) - statistics.median(a)
        print(f"{'':<30}with/without: p50 {p50:.3f}, p99 {p99:.3f}  ({extra:+.1f} µs at p50)")
        print(f"{'':<30}noise A'/A:   p50 {noise50:.3f}, p99 {noise99:.3f}")
        verdicts.append((label, p50, p99))
    bare, wrapped = alone
    base_p50 = statistics.median(samples[(APPS[0], next(iter(PATHS)))])
    own = (wrapped - bare) / 1000
    print(f"\nthe middleware alone (best of rounds): {own:.2f} µs per request ({bare:.0f} → {wrapped:.0f} ns)")
    print(f"  = {own / base_p50:.1%} of the in-process request's p50; a request through uvicorn takes ~1 ms")
    print(f"run took {elapsed:.1f} s; alerts delivered to the local webhook: {alerts_lib.stats().delivered}")
    label, ratio, _ = verdicts[0]
    noise = statistics.median(samples[(APPS[1], label)]) / statistics.median(samples[(APPS[0], label)])
    within = ratio <= max(noise, 1 / noise) + 0.03
    verdict = "within noise" if within else "ABOVE the noise"
    print(f"trivial endpoint p50 with/without: {ratio:.3f}, A/A noise {noise:.3f}: {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=16, help="rounds; each runs every app once")
    parser.add_argument("--requests", type=int, default=1200, help="requests per app, path and round")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # uvicorn-less: nobody prints the 500s' tracebacks anyway
    with FakeSlack() as slack:
        alerts_lib.configure(webhook_url=slack.url, env="bench", min_interval=0, dedup_window=3600)
        began = time.monotonic()
        samples = asyncio.run(measure(args.rounds, args.requests))
        alone = asyncio.run(middleware_alone())
        alerts_lib.flush(5)
        report(samples, alone, time.monotonic() - began)


if __name__ == "__main__":
    main()
