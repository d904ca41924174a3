"""What does sending an alert cost the caller when Slack is fine, hanging, dripping or refusing?

Prints p50/p99 of ``send_slack_alert`` per webhook behaviour next to a bare ``queue.SimpleQueue.put_nowait``
(the floor for "hand it to another thread"), and the same figures for the usual peers:
``requests.post(..., timeout=5)`` in try/except and slack_sdk's ``WebhookClient``. The webhook is a real
misbehaving HTTP server in another process. Target: alerts_lib p99 within 20x of the baseline p99.

Both are timed the same way, side by side: bursts of 500 calls with a 5 ms breath between bursts (a busy
service), the same arguments (built before the clock starts), a baseline burst then one of ours, 40 times. The breath is
what makes p99: the first calls after it run on cold caches, and a shared machine preempts us there. A
baseline timed in one tight loop instead has a p99 10x lower than the same put in bursts, so it is printed
too, for reference, but the ratio compares like with like.

    python bench/caller_latency.py            # full run (peers in hang/drip modes take ~2 minutes)
    python bench/caller_latency.py --quick    # peers only where they return quickly
"""

from __future__ import annotations

import argparse
import logging
import queue
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import alerts_lib  # noqa: E402
from tests.support.fake_slack import refused_url  # noqa: E402

MODES = ["ok", "hang", "drip", "refused"]
CALLS = 20_000
PEER_CAP = 35.0  # seconds a peer call may block before we stop waiting and report "> cap"


def start_server(mode: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.fake_slack", "--mode", mode],
        cwd=ROOT,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    return proc, proc.stdout.readline().strip()


def percentiles(samples_ns: list[int]) -> tuple[float, float]:
    ordered = sorted(samples_ns)
    p50 = ordered[len(ordered) // 2]
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    return p50 / 1000, p99 / 1000  # microseconds


def time_calls(call: Callable[[int], object], n: int) -> list[int]:
    out = []
    clock = time.perf_counter_ns
    for i in range(n):
        started = clock()
        call(i)
        out.append(clock() - started)
    return out


def tight_loop_baseline() -> tuple[float, float]:
    """``put_nowait`` of one constant in one tight loop: no breaths, no argument to build (for reference)."""
    q: queue.SimpleQueue[str] = queue.SimpleQueue()
    return percentiles(time_calls(lambda i: q.put_nowait("alert"), CALLS))


def side_by_side(
    call: Callable[[object], object], argument: Callable[[int], object]
) -> tuple[tuple[float, float], tuple[float, float]]:
    """(p50, p99) of ``call(argument(i))`` and of ``SimpleQueue.put_nowait(argument(i))``, timed alike (the
    arguments are built before the clock starts).

    Bursts of 500, like a busy service, with a breath in between; the two alternate, so both see the same
    machine. The baseline's queue is emptied between bursts, untimed, as a consumer thread would.
    """
    q: queue.SimpleQueue[object] = queue.SimpleQueue()
    ours: list[int] = []
    base: list[int] = []
    for _ in range(CALLS // 500):
        args = [argument(i) for i in range(500)]
        base += time_calls(lambda i, args=args: q.put_nowait(args[i]), 500)
        while not q.empty():
            q.get_nowait()
        time.sleep(0.005)
        ours += time_calls(lambda i, args=args: call(args[i]), 500)
        time.sleep(0.005)
    return percentiles(ours), percentiles(base)


def ours(url: str) -> tuple[tuple[float, float], tuple[float, float]]:
    alerts_lib.configure(webhook_url=url, shutdown_timeout=0)
    alerts_lib.send_slack_alert("warm-up")  # starts the worker thread (once per process)
    time.sleep(0.2)
    return side_by_side(alerts_lib.send_slack_alert, lambda i: f"alert {i}")


def peer(call: Callable[[], object], n: int) -> str:
    """Median seconds per call, or how long it blocked before we gave up waiting."""
    durations = []
    for _ in range(n):
        done = threading.Event()

        def run(done: threading.Event = done) -> None:
            try:
                call()
            except Exception:
                pass
            done.set()

        started = time.perf_counter()
        threading.Thread(target=run, daemon=True).start()
        if not done.wait(PEER_CAP):
            return f"> {PEER_CAP:.0f} s (still blocked)"
        durations.append(time.perf_counter() - started)
    median = statistics.median(durations)
    return f"{median * 1000:.1f} ms" if median < 1 else f"{median:.1f} s"


def peers(url: str, mode: str, quick: bool) -> tuple[str, str]:
    import requests
    from slack_sdk.webhook import WebhookClient

    slow = mode in ("hang", "drip")
    if quick and slow:
        return "(skipped: --quick)", "(skipped: --quick)"
    n = 1 if slow else 20
    plain = peer(lambda: requests.post(url, json={"text": "x"}, timeout=5), n)
    sdk = peer(lambda: WebhookClient(url).send(text="x"), n)
    return plain, sdk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="skip peers in modes where they block for seconds")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the worker's retry warnings are expected here
    rows = []
    for mode in MODES:
        proc, url = start_server("ok") if mode == "refused" else start_server(mode)
        target = refused_url() if mode == "refused" else url
        try:
            (p50, p99), (base50, base99) = ours(target)
            plain, sdk = peers(target, mode, args.quick)
        finally:
            alerts_lib.testing.reset_alerts()
            proc.terminate()
        rows.append((mode, p50, p99, base50, base99, p99 / base99, plain, sdk))
    tight50, tight99 = tight_loop_baseline()
    header = (
        f"{'webhook':8} | {'alerts_lib p50/p99 (µs)':>23} | {'SimpleQueue p50/p99 (µs)':>24} | "
        f"{'p99 ratio':>9} | {'requests.post timeout=5':>24} | {'slack_sdk WebhookClient':>24}"
    )
    sys.stdout.write(header + "\n" + "-" * len(header) + "\n")
    for mode, p50, p99, b50, b99, ratio, plain, sdk in rows:
        sys.stdout.write(
            f"{mode:8} | {p50:10.2f} / {p99:10.2f} | {b50:11.2f} / {b99:10.2f} | {ratio:8.1f}x"
            f" | {plain:>24} | {sdk:>24}\n"
        )
    sys.stdout.write(
        f"\n(SimpleQueue.put_nowait of a constant in one tight loop, for reference: p50 {tight50:.2f} µs, "
        f"p99 {tight99:.2f} µs; our worst p99 is {max(r[2] for r in rows) / tight99:.1f}x that)\n"
    )
    worst = max(r[5] for r in rows)
    verdict = "OK" if worst <= 20 else "MISSED"
    sys.stdout.write(f"\nworst p99 ratio vs SimpleQueue.put_nowait: {worst:.1f}x (target <= 20x): {verdict}\n")


if __name__ == "__main__":
    import alerts_lib.testing

    main()
