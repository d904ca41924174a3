"""Another process using the same spool, for the spool tests: ``python -m tests.support.spool_peer DIR``.

Reads one JSON command per stdin line and answers one JSON line on stdout, so a test drives a real, separate
process (its own POSIX locks, its own SQLite connection) step by step, and can SIGKILL it at any point:

    {"op": "add", "lane": L, "n": 3}   -> {"ids": [...]}      rows {"n": i}, owned by this process
    {"op": "claim", "lanes": [L]}      -> {"ids": [...]}
    {"op": "remove", "ids": [...]} / {"op": "release"} / {"op": "close"}   -> {}
    {"op": "pending"}                  -> {"pending": {...}}
A failure answers {"error": "<SpoolError message>"}. The first line it prints is {"owner": ...} (or {"error": ...}).

``--claim-loop LANE --stop FILE`` instead claims and removes in a loop until FILE exists and a claim comes back
empty, then prints {"ids": [every id it claimed]}: one of two concurrent drainers. ``--as-user UID`` runs it as
that user (from root): after the imports, since the interpreter itself may not be readable by that user.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from alerts_lib._spool import Spool, SpoolError


def answer(spool: Spool, command: dict[str, Any]) -> dict[str, Any]:
    op = command["op"]
    if op == "add":
        rows = [(command["lane"], {"n": i}, time.time(), "peer") for i in range(command["n"])]
        return {"ids": spool.add(rows)}
    if op == "claim":
        return {"ids": [row.id for row in spool.claim(command["lanes"])]}
    if op == "remove":
        spool.remove(command["ids"])
    elif op == "release":
        spool.release()
    elif op == "close":
        spool.close()
    elif op == "pending":
        return {"pending": spool.pending()}
    return {}


def claim_loop(spool: Spool, lane: str, stop: Path) -> list[int]:
    claimed: list[int] = []
    while True:
        stopping = stop.exists()  # checked before claiming, so the last empty claim saw everything
        rows = spool.claim([lane])
        claimed += [row.id for row in rows]
        spool.remove(row.id for row in rows)
        if stopping and not rows:
            return claimed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("directory")
    parser.add_argument("--claim-loop", metavar="LANE")
    parser.add_argument("--stop", type=Path)
    parser.add_argument("--as-user", type=int, help="drop root to this uid (and gid) first, everything imported")
    args = parser.parse_args()
    if args.as_user is not None:
        os.setgroups([])
        os.setgid(args.as_user)
        os.setuid(args.as_user)
    try:
        spool = Spool(args.directory)
    except SpoolError as exc:
        print(json.dumps({"error": str(exc)}), flush=True)
        return
    if args.claim_loop:
        print(json.dumps({"owner": spool.owner}), flush=True)
        print(json.dumps({"ids": claim_loop(spool, args.claim_loop, args.stop)}), flush=True)
        return
    print(json.dumps({"owner": spool.owner}), flush=True)
    for line in sys.stdin:
        try:
            reply = answer(spool, json.loads(line))
        except SpoolError as exc:
            reply = {"error": str(exc)}
        print(json.dumps(reply), flush=True)


if __name__ == "__main__":
    main()
