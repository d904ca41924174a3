"""Latency of the real model service while Slack answers normally vs. hangs, measured in the same run.

Starts ``python -m fastapi_app`` under uvicorn (a subprocess on a free 127.0.0.1 port) with its
``SLACK_WEBHOOK_URL`` pointing at a local FakeSlack, then times, from a keep-alive HTTP client:

- ``/predict`` and ``/health`` (no alert),
- ``/predict`` failing (500 + a prediction-error alert) and ``/variant/A/reload`` (a hot-swap alert),

as one mixed stream, in rounds that alternate the webhook between ``ok`` and ``hang`` (ABBA order, so drift
on a noisy machine hits both modes alike). Storm control is off so every alert really reaches the webhook.
Prints p50/p99 per request kind and mode, and the p99 ratio hang/ok (target <= 1.1).

    .venv/bin/python bench/service_latency.py [--rounds 8] [--block 2.5]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "support")]

import httpx  # noqa: E402
from fake_slack import FakeSlack  # noqa: E402
from service_helpers import ADMIN_TOKEN, AUTH, FEATURES, MODEL, running_service  # noqa: E402

from fastapi_app.seed import seed_registry  # noqa: E402

OVERFLOW = {"x1": 1e308, "x2": -1e308, "x3": 1e308}
MODES = ("ok", "hang")
Samples = dict[tuple[str, str], list[float]]
posts: dict[str, int] = defaultdict(int)  # webhook posts seen while each mode was set


def requests_cycle(http: httpx.Client) -> list[tuple[str, int, Callable[[], httpx.Response]]]:
    """One cycle of the mixed workload: (kind, expected status, request). Mixing the kinds in one stream
    spreads the machine's noise evenly over them."""
    predict = ("predict", 200, lambda: http.post("/predict", json={"features": FEATURES}))
    health = ("health", 200, lambda: http.get("/health"))
    error = ("predict error (alert)", 500, lambda: http.post("/predict", json={"features": OVERFLOW}))
    reload = ("reload (alert)", 200, lambda: http.post("/variant/A/reload", headers=AUTH))
    return [predict, health, error, predict, health, predict, error, health, predict, reload]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def measure(base: str, slack: FakeSlack, rounds: int, block_seconds: float) -> Samples:
    samples: Samples = defaultdict(list)
    with httpx.Client(base_url=base, timeout=60) as http:
        cycle = requests_cycle(http)
        for _ in range(30):  # warm up connections and code paths
            for _, _, send in cycle:
                send()
        for r in range(rounds):
            for mode in MODES if r % 2 == 0 else MODES[::-1]:
                slack.mode = mode
                posts_before = len(slack.requests)
                end = time.monotonic() + block_seconds
                while time.monotonic() < end:
                    for name, status, send in cycle:
                        start = time.perf_counter()
                        response = send()
                        samples[(name, mode)].append(time.perf_counter() - start)
                        if response.status_code != status:
                            raise SystemExit(f"{name}: unexpected HTTP {response.status_code}: {response.text}")
                posts[mode] += len(slack.requests) - posts_before
    return samples


def report(samples: Samples, elapsed: float) -> None:
    print(f"{'request':<24}{'webhook':<8}{'n':>6}{'p50 ms':>10}{'p99 ms':>10}{'max ms':>10}")
    ratios = []
    for name in dict.fromkeys(k for k, _ in samples):
        for mode in MODES:
            s = samples[(name, mode)]
            print(
                f"{name:<24}{mode:<8}{len(s):>6}{statistics.median(s) * 1e3:>10.2f}"
                f"{percentile(s, 99) * 1e3:>10.2f}{max(s) * 1e3:>10.2f}"
            )
        ratio = percentile(samples[(name, "hang")], 99) / percentile(samples[(name, "ok")], 99)
        ratios.append(ratio)
        print(f"{'':<24}p99 ratio hang/ok: {ratio:.2f}")
    print(f"\nwebhook posts while ok: {posts['ok']}, while hanging: {posts['hang']}; run took {elapsed:.1f} s")
    verdict = "PASS" if max(ratios) <= 1.1 else "ABOVE TARGET"
    print(f"worst p99 ratio hang/ok: {max(ratios):.2f} (target <= 1.1): {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=8, help="ok/hang rounds (even: ABBA balanced)")
    parser.add_argument("--block", type=float, default=2.5, help="seconds per mode per round")
    args = parser.parse_args()
    began = time.monotonic()
    with tempfile.TemporaryDirectory() as tmp, FakeSlack(mode="ok") as slack:
        seed_registry(Path(tmp) / "reg", MODEL)
        env = {
            "MODEL_REGISTRY_DIR": str(Path(tmp) / "reg"),
            "MODEL_NAME": MODEL,
            "FASTAPI_TOKEN": ADMIN_TOKEN,
            "SLACK_WEBHOOK_URL": slack.url,
            "ALERTS_ENV": "bench",
            "ALERTS_DEADLINE": "5",
            # Every alert goes to the webhook (no storm merging), so the hang really is hit; pacing stays on.
            "ALERTS_DEDUP_WINDOW": "0",
            "ALERTS_SHUTDOWN_TIMEOUT": "1",
        }
        with running_service(env, Path(tmp)) as svc:
            samples = measure(svc.base, slack, args.rounds, args.block)
        report(samples, time.monotonic() - began)


if __name__ == "__main__":
    main()
