"""What does the durable spool cost the worker thread per alert?

Times ``Spool.add`` + ``Spool.remove`` (one alert's whole life in the spool: written when accepted, deleted when
delivered) in batches of 1, 10 and 100 alerts, against a baseline measured in the same run: appending the same
entries to an in-memory list and clearing it (what the worker does without a spool). Rounds are interleaved and
the median is printed. ``synchronous=FULL`` (an fsync per commit) is shown next to the NORMAL the spool uses.
The caller never pays any of this: the worker thread writes the spool.

    python bench/spool_cost.py [--alerts 2000] [--rounds 5] [--dir PATH]   # PATH on the disk you will use
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from alerts_lib._spool import Spool, lane_key, local_origin  # noqa: E402

LANE = lane_key("slack", "https://hooks.slack.com/services/T000/B000/bench")
RENDER: dict[str, Any] = {  # about the size of a rendered Slack alert with a few fields (~700 bytes of JSON)
    "text": "❌ [FastAPI] prediction error on @A: KeyError: 'x2' · prod",
    "blocks": [
        {"type": "section", "text": {"type": "mrkdwn", "text": "❌ *[FastAPI] prediction error on @A*"}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f"*field {i}*\nvalue {i} " * 3} for i in range(4)]},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "prod · model my_model v9"}]},
    ],
}


def per_alert_us(run: Any, batch: int, alerts: int) -> tuple[float, float]:
    """Wall-clock and CPU µs per alert (CPU is steadier on a shared machine; fsync waits show in wall only)."""
    entries = [(LANE, RENDER, time.time(), local_origin())] * batch
    wall, cpu = time.perf_counter(), time.process_time()
    for _ in range(alerts // batch):
        run(entries)
    done = alerts // batch * batch
    return (time.perf_counter() - wall) / done * 1e6, (time.process_time() - cpu) / done * 1e6


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--alerts", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dir", type=Path, help="where to put the spool (default: a temp dir)")
    args = parser.parse_args()
    base = Path(tempfile.mkdtemp(prefix="spool-bench-", dir=args.dir))
    normal, full = Spool(base / "normal"), Spool(base / "full")
    assert full._db is not None
    full._db.execute("PRAGMA synchronous=FULL")
    memory: list[Any] = []

    def in_memory(entries: list[Any]) -> None:
        memory.extend(entries)
        memory.clear()

    def spooled(spool: Spool) -> Any:
        return lambda entries: spool.remove(spool.add(entries))

    runs = {"in-memory list (baseline)": in_memory, "spool, NORMAL": spooled(normal), "spool, FULL": spooled(full)}
    results: dict[tuple[str, int], list[tuple[float, float]]] = {}
    for _ in range(args.rounds):
        for batch in (1, 10, 100):
            for name, run in runs.items():
                results.setdefault((name, batch), []).append(per_alert_us(run, batch, args.alerts))
    print(f"µs per alert for add + remove, median of {args.rounds} rounds of {args.alerts} alerts, spool in {base}")
    print("wall-clock µs (CPU µs) and the wall ratio to the in-memory baseline")
    print(f"{'':26}" + "".join(f"{f'batch {b}':>28}" for b in (1, 10, 100)))
    baseline = "in-memory list (baseline)"
    for name in runs:
        cells = []
        for batch in (1, 10, 100):
            wall = statistics.median(w for w, _ in results[(name, batch)])
            cpu = statistics.median(c for _, c in results[(name, batch)])
            floor = statistics.median(w for w, _ in results[(baseline, batch)])
            cells.append(f"{wall:.2f} ({cpu:.2f})" + (f" {wall / floor:,.0f}x" if name != baseline else ""))
        print(f"{name:26}" + "".join(f"{cell:>28}" for cell in cells))
    normal.close()
    full.close()
    shutil.rmtree(base)


if __name__ == "__main__":
    main()
