"""What does an alert storm cost the host? A CPU-bound loop with and without one alert per round.

The loop does ~0.75 ms of pure-Python work per round (a model's hot loop, say). The "storm" variant also
calls ``send_slack_alert(formatters.prediction_error(exc, ...))`` every round, the same error each time, so
after the first one storm control holds every repeat. The two variants run in pairs of short runs, one
right after the other (which one goes first alternates), in one process, against a real webhook server in
another process; the figure is the median of the pairs' ratios. On a shared machine the speed of the same
loop drifts by ±20% within seconds, so only runs measured side by side are compared. Target: throughput
ratio storm / none ≥ 0.98: a held repeat must cost about a counter increment, not a render.

    python bench/storm_cost.py            # ~25 s
    python bench/storm_cost.py --quick    # fewer pairs
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
ROUNDS = 300  # per run: ~0.23 s, short enough that a pair sees the same machine


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


def run(rounds: int, n: int, alert: bool) -> tuple[float, float]:
    """Rounds per second of wall-clock time, and per second of the process's CPU time (all its threads)."""
    error = KeyError("x2")
    send: Callable[..., bool] = alerts_lib.send_slack_alert
    started, cpu = time.perf_counter(), time.process_time()
    for _ in range(rounds):
        work(n)
        if alert:
            send(formatters.prediction_error(error, model="my_model", alias="A", version=9))
    return rounds / (time.perf_counter() - started), rounds / (time.process_time() - cpu)


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
        pairs = 12 if args.quick else 40
        run(200, n, alert=True)  # warm up: the first alert is posted, the window opens
        none, storm, ratios, cpu_ratios = [], [], [], []
        for i in range(pairs):
            if i % 2:
                (with_storm, storm_cpu), (without, none_cpu) = run(ROUNDS, n, True), run(ROUNDS, n, False)
            else:
                (without, none_cpu), (with_storm, storm_cpu) = run(ROUNDS, n, False), run(ROUNDS, n, True)
            none.append(without)
            storm.append(with_storm)
            ratios.append(with_storm / without)
            cpu_ratios.append(storm_cpu / none_cpu)
        stats = alerts_lib.stats()
        ratio = statistics.median(ratios)
        low, _, high = statistics.quantiles(ratios, n=4)
        print(f"work per round: {1000 / statistics.median(none):.3f} ms ({n} iterations)")
        for label, runs in (("without alerts:", none), ("with a storm:  ", storm)):
            print(f"rounds/s {label} median {statistics.median(runs):.1f}  range {min(runs):.0f}-{max(runs):.0f}")
        print(f"pairs: {pairs} x {ROUNDS} rounds each way; middle half of the pairs' ratios: {low:.3f}-{high:.3f}")
        cpu_ratio = statistics.median(cpu_ratios)
        print(f"same, per second of the process's CPU time (not slowed by other tenants): {cpu_ratio:.3f}")
        print(f"formatters.prediction_error on the caller: {cost_of_formatting():.2f} µs")
        print(f"alerts: posted {stats.posts}, held by storm control {stats.suppressed}, dropped {stats.dropped}")
        print(f"throughput ratio storm/none: {ratio:.3f} (target ≥ {TARGET})  {'OK' if ratio >= TARGET else 'MISS'}")
        return 0 if ratio >= TARGET else 1
    finally:
        alerts_lib.flush(2)
        proc.terminate()


if __name__ == "__main__":
    sys.exit(main())
