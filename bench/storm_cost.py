"""What does an alert storm cost the host? A CPU-bound loop with and without one alert per round.

The loop does ~0.75 ms of pure-Python work per round (a model's hot loop, say). The "storm" variant also
calls ``send_slack_alert(formatters.prediction_error(exc, ...))`` every round, the same error each time, so
after the first one storm control holds every repeat. The two variants alternate (5 runs each, interleaved,
median), in one process, against a real webhook server in another process. Target: throughput ratio
storm / none ≥ 0.98: a held repeat must cost about a counter increment, not a render.

    python bench/storm_cost.py            # ~25 s
    python bench/storm_cost.py --quick    # fewer rounds
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import alerts_lib  # noqa: E402
from alerts_lib import formatters  # noqa: E402
from bench.caller_latency import start_server  # noqa: E402

TARGET = 0.98


def calibrate(target_s: float = 0.00075) -> int:
    n = 1000
    while True:
        started = time.perf_counter()
        work(n)
        took = time.perf_counter() - started
        if took > 0.02:
            return max(1, int(n * target_s / took))
        n *= 2


def work(n: int) -> float:
    total = 0.0
    for i in range(n):
        total += (i % 7) * 0.5
    return total


def run(rounds: int, n: int, alert: bool) -> float:
    """Rounds per second."""
    error = KeyError("x2")
    send: Callable[..., bool] = alerts_lib.send_slack_alert
    started = time.perf_counter()
    for _ in range(rounds):
        work(n)
        if alert:
            send(formatters.prediction_error(error, model="my_model", alias="A", version=9))
    return rounds / (time.perf_counter() - started)


def cost_of_formatting(samples: int = 20_000) -> float:
    error = KeyError("x2")
    started = time.perf_counter()
    for _ in range(samples):
        formatters.prediction_error(error, model="my_model", alias="A", version=9)
    return (time.perf_counter() - started) / samples * 1e6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    proc, url = start_server("ok")
    try:
        alerts_lib.configure(webhook_url=url)  # the defaults: 60 s storm window, 1 post/s
        n = calibrate()
        rounds = 600 if args.quick else 2000
        run(200, n, alert=True)  # warm up: the first alert is posted, the window opens
        none, storm = [], []
        for _ in range(5):
            none.append(run(rounds, n, alert=False))
            storm.append(run(rounds, n, alert=True))
        stats = alerts_lib.stats()
        ratio = statistics.median(storm) / statistics.median(none)
        print(f"work per round: {1000 / statistics.median(none):.3f} ms ({n} iterations)")
        print(f"rounds/s without alerts: median {statistics.median(none):.1f}  runs {[round(x) for x in none]}")
        print(f"rounds/s with a storm:   median {statistics.median(storm):.1f}  runs {[round(x) for x in storm]}")
        print(f"formatters.prediction_error on the caller: {cost_of_formatting():.2f} µs")
        print(f"alerts: posted {stats.posts}, held by storm control {stats.suppressed}, dropped {stats.dropped}")
        print(f"throughput ratio storm/none: {ratio:.3f} (target ≥ {TARGET})  {'OK' if ratio >= TARGET else 'MISS'}")
        return 0 if ratio >= TARGET else 1
    finally:
        alerts_lib.flush(2)
        proc.terminate()


if __name__ == "__main__":
    sys.exit(main())
