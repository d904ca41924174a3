"""``python -m alerts_lib send "text" | check | drain``.

``send`` goes through the same queue and worker as the library (so it proves the real path works) and
waits for the result; ``check`` explains the configuration without sending anything; ``drain`` delivers the
spool (``ALERTS_SPOOL_DIR``) and says whether it is empty, for cron jobs, Kubernetes jobs and CI.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from ._client import configure, flush, get_plan, send_slack_alert, stats
from ._config import build_plan
from ._drain import drain
from ._redact import mask_url
from ._settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts_lib", description="Send a Slack alert, or check setup.")
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="deliver one alert now and report the result")
    send.add_argument("text", help="the message (Slack mrkdwn)")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for delivery (default 30)")
    commands.add_parser("check", help="validate the configuration, masking the webhook")
    drainer = commands.add_parser("drain", help="deliver the spool (ALERTS_SPOOL_DIR); exit 0 when it is empty")
    drainer.add_argument("--timeout", type=float, default=60.0, help="seconds to keep trying (default 60)")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the worker does")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.command == "check":
        return _check()
    if args.command == "drain":
        return drain(args.timeout, _out)
    return _send(args.text, args.timeout)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _check() -> int:
    settings = load_settings()  # invalid values are explained in the log as they are replaced
    for name, value in settings.describe().items():
        _out(f"{name:18} {value}")
    plan = build_plan(settings)  # problems in ALERTS_CONFIG are logged, one line each
    if not plan.destinations:
        if settings.config:
            _out(f"not ready: ALERTS_CONFIG {settings.config} names no usable destination (see above)")
        else:
            _out("not ready: SLACK_WEBHOOK_URL is not set (or invalid, see above): alerts would only be logged")
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
    if len(plan.destinations) == 1 and settings.webhook and not settings.config:
        _out(f"ready: alerts go to {mask_url(settings.webhook)}")
    else:
        _out(f"ready: {len(plan.destinations)} destination(s)")
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
