"""``python -m demo [--scenario]``: the inbox, the model service and the watch on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import argparse
import signal
import sys
import threading

from . import scenario
from .stack import WATCH_INTERVAL, DemoStack


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m demo", description=__doc__)
    parser.add_argument("--scenario", action="store_true", help="drive the service through every alert type")
    parser.add_argument("--host", default="127.0.0.1", help="address to serve on (default 127.0.0.1)")
    parser.add_argument("--inbox-port", type=int, default=8025, help="inbox port (0: any free port)")
    parser.add_argument("--service-port", type=int, default=8000, help="service port (0: any free port)")
    parser.add_argument("--verbose", action="store_true", help="show the servers' logs here")
    return parser.parse_args(argv)


SCENARIO_ENDINGS = {
    scenario.DONE: "Scenario done: every alert type is in the inbox.",
    scenario.MISSED: "Scenario done, with misses.",
    scenario.INTERRUPTED: "Scenario interrupted (Ctrl-C): the alerts so far are in the inbox.",
}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    stop = threading.Event()
    # SIGINT (Ctrl-C) and SIGTERM both end the demo the same clean way; the children run in their own
    # sessions, so only we receive the terminal's Ctrl-C and they are stopped once, in order.
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda *_: stop.set())
    aliases = scenario.SCENARIO_ALIASES if args.scenario else scenario.SEEDED_ALIASES
    print("Starting the local inbox, the model service and the watch…", flush=True)
    try:
        stack = DemoStack(
            host=args.host,
            inbox_port=args.inbox_port,
            service_port=args.service_port,
            aliases=aliases,
            seeded=scenario.SEEDED_ALIASES,
            verbose=args.verbose,
        ).start()
    except Exception as exc:  # start() already stopped whatever it had started
        print(f"demo failed to start: {exc}", file=sys.stderr)
        return 1
    try:
        print(f"Inbox (alerts):  {stack.inbox_url}/")
        print(f"Model service:   {stack.service_url}/docs  (try GET {stack.service_url}/health)")
        print(f"Watch:           polls {stack.service_url}/health every {WATCH_INTERVAL:g} s")
        if not args.verbose:
            print(f"Server logs:     {stack.workdir}/{{inbox,service,watch}}.log")
        print("Startup alerts sent.", flush=True)
        if not args.scenario:
            print("Tip: ./dev demo --scenario (python -m demo --scenario) shows every alert type in seconds.")
        if args.scenario and not stop.is_set():
            print("Scenario:", flush=True)
            try:
                result = scenario.run(stack, say=lambda line: print(line, flush=True), cancelled=stop.is_set)
            except Exception as exc:  # keep serving what is there; the logs say more
                print(f"Scenario stopped: {type(exc).__name__}: {exc}", file=sys.stderr)
            else:
                print(SCENARIO_ENDINGS[result], flush=True)
        if not stop.is_set():
            print("Press Ctrl-C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        # Under ``./dev demo | tee log`` Ctrl-C ends tee too, and printing fails (BrokenPipeError): the servers,
        # in their own sessions, must be stopped all the same, or they keep the demo's ports.
        try:
            print("Stopping…", flush=True)
        finally:
            stack.stop()
        print("Stopped.", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
