"""``python -m alerts_lib send "text" | check | drain``.

``send`` goes through the same queue and worker as the library (so it proves the real path works) and
waits for the result; ``check`` explains the configuration without sending anything (``check --live`` also
connects to each webhook, see ``_probe``); ``drain`` delivers the spool (``ALERTS_SPOOL_DIR``) and says whether
it is empty, for cron jobs, Kubernetes jobs and CI.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from . import watch
from ._client import configure, flush, get_plan, send_slack_alert, stats
from ._config import build_plan
from ._drain import drain
from ._probe import probe
from ._redact import mask_url
from ._settings import load_settings, webhook_problem


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts_lib", description="Send a Slack alert, or check setup.")
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="deliver one alert now and report the result")
    send.add_argument("text", help="the message (Slack mrkdwn)")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for delivery (default 30)")
    check = commands.add_parser("check", help="validate the configuration, masking the webhook")
    check.add_argument("--live", action="store_true", help="also connect to each webhook (posts nothing)")
    check.add_argument("--timeout", type=float, default=5.0, help="seconds per webhook for --live (default 5)")
    drainer = commands.add_parser("drain", help="deliver the spool (ALERTS_SPOOL_DIR); exit 0 when it is empty")
    drainer.add_argument("--timeout", type=float, default=60.0, help="seconds to keep trying (default 60)")
    watch.add_parser(commands)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the worker does")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.command == "check":
        return _check(args.live, args.timeout)
    if args.command == "drain":
        return drain(args.timeout, _out)
    if args.command == "watch":
        return watch.run_cli(args)
    return _send(args.text, args.timeout)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _check(live: bool, timeout: float) -> int:
    """Exit 0: ready (with ``--live``, every webhook reachable); 1: not ready; 3: a webhook is unreachable."""
    settings = load_settings()  # invalid values are explained in the log as they are replaced
    for name, value in settings.describe().items():
        _out(f"{name:18} {value}")
    plan = build_plan(settings)  # problems in ALERTS_CONFIG are logged, one line each
    if not plan.destinations:
        raw = os.environ.get("SLACK_WEBHOOK_URL", "").strip()
        if settings.config:
            _out(f"not ready: ALERTS_CONFIG {settings.config} names no usable destination (see above)")
        else:
            why = webhook_problem(raw, allow_http=settings.allow_http) if raw else "SLACK_WEBHOOK_URL is not set"
            _out(f"not ready (alerts would only be logged): {why or 'SLACK_WEBHOOK_URL is invalid, see above'}")
        return 1
    _out(f"destinations (from {plan.origin}):")
    for dest in plan.destinations.values():
        _out(f"  {dest.name:12} {dest.kind:12} {', '.join(dest.mask(u) for u in dest.urls)}")
    if plan.routes:
        _out("routes (the first that matches decides):")
        for i, route in enumerate(plan.routes):
            _out(f"  {i + 1}. {route.describe()}")
    else:
        _out("routes: none, every alert goes to every destination")
    if plan.problems:
        _out(f"ready, with {len(plan.problems)} problem(s) in ALERTS_CONFIG (see above)")
        return 1
    single = len(plan.destinations) == 1 and settings.webhook and not settings.config
    where = f"alerts go to {mask_url(settings.webhook)}" if single else f"{len(plan.destinations)} destination(s)"
    if not live:
        _out(f"ready: {where} (check --live also tests the connection)")
        return 0
    unreachable = total = 0
    for dest in plan.destinations.values():
        for url in dest.urls:
            total += 1
            found = probe(url, timeout)
            unreachable += not found.ok
            _out(f"{dest.name}  {dest.mask(url)}  {found.status}: {found.detail} ({found.seconds:.2f} s)")
    if unreachable:
        _out(f"not ready: {unreachable} of {total} webhook(s) cannot be reached from here")
        return 3
    _out(f"ready: {where}, reachable from here (nothing was posted)")
    return 0


def _send(text: str, timeout: float) -> int:
    configure(min_interval=0.0, dedup_window=0.0)
    plan = get_plan()
    if not plan.destinations:
        _out("not sent: no destination is configured or valid (run `python -m alerts_lib check`)")
        return 1
    send_slack_alert(text)
    finished = flush(timeout)
    result = stats()
    if result.delivered:
        where = [
            f"{name} ({plan.destinations[name].mask(plan.destinations[name].urls[0])})"
            for name, s in result.destinations.items()
            if s.delivered and name in plan.destinations
        ]
        _out(f"delivered to {', '.join(where)}")
        return 0
    why = result.last_error or "no answer yet"
    _out(f"not delivered{'' if finished else f' within {timeout:g} s'}: {why}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
