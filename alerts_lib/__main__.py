"""``python -m alerts_lib send "text"`` and ``python -m alerts_lib check``.

``send`` goes through the same queue and worker as the library (so it proves the real path works) and
waits for the result; ``check`` explains the configuration without sending anything.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence

from . import watch
from ._client import configure, flush, send_slack_alert, stats
from ._redact import mask_url
from ._settings import load_settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m alerts_lib", description="Send a Slack alert, or check setup.")
    commands = parser.add_subparsers(dest="command", required=True)
    send = commands.add_parser("send", help="deliver one alert now and report the result")
    send.add_argument("text", help="the message (Slack mrkdwn)")
    send.add_argument("--timeout", type=float, default=30.0, help="seconds to wait for delivery (default 30)")
    commands.add_parser("check", help="validate the configuration, masking the webhook")
    watch.add_parser(commands)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the worker does")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    if args.command == "check":
        return _check()
    if args.command == "watch":
        return watch.run_cli(args)
    return _send(args.text, args.timeout)


def _out(line: str) -> None:
    sys.stdout.write(line + "\n")


def _check() -> int:
    settings = load_settings()  # invalid values are explained in the log as they are replaced
    for name, value in settings.describe().items():
        _out(f"{name:18} {value}")
    if settings.webhook is None:
        _out("not ready: SLACK_WEBHOOK_URL is not set (or invalid, see above): alerts would only be logged")
        return 1
    _out(f"ready: alerts go to {mask_url(settings.webhook)}")
    return 0


def _send(text: str, timeout: float) -> int:
    settings = configure(min_interval=0.0, dedup_window=0.0)
    if settings.webhook is None:
        _out("not sent: SLACK_WEBHOOK_URL is not set or invalid (run `python -m alerts_lib check`)")
        return 1
    send_slack_alert(text)
    finished = flush(timeout)
    result = stats()
    if result.delivered:
        _out(f"delivered to {mask_url(settings.webhook)}")
        return 0
    why = result.last_error or "no answer yet"
    _out(f"not delivered{'' if finished else f' within {timeout:g} s'}: {why}")
    return 1


if __name__ == "__main__":
    sys.exit(main())
