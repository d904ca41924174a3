"""The ``watch`` subcommand: flags (or ``ALERTS_WATCH_*``) in, a running watch or a probe's exit code out."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any

from ._config import ConfigError, add_arguments, from_args, probe_settings, validate
from ._loop import Watch, probe

log = logging.getLogger("alerts_lib.watch")

DESCRIPTION = "Poll Airflow and HTTP health endpoints; alert on failures and recoveries (transitions only)."


def add_parser(commands: Any) -> argparse.ArgumentParser:
    """Add ``watch`` to an argparse subparsers object (``python -m alerts_lib``'s)."""
    parser: argparse.ArgumentParser = commands.add_parser("watch", help=DESCRIPTION, description=DESCRIPTION)
    add_arguments(parser)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m alerts_lib.watch …``: the same as ``python -m alerts_lib watch …``."""
    parser = argparse.ArgumentParser(prog="python -m alerts_lib watch", description=DESCRIPTION)
    add_arguments(parser)
    parser.add_argument("-v", "--verbose", action="store_true", help="log every poll's details")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING, format="%(message)s")
    return run_cli(args)


def run_cli(args: argparse.Namespace) -> int:
    """Probe, or watch until SIGTERM/SIGINT; exit 2 with the reason when the configuration is unusable."""
    logging.getLogger("alerts_lib.watch").setLevel(logging.DEBUG if getattr(args, "verbose", False) else logging.INFO)
    try:
        if args.probe:  # needs no target and no secret: a healthcheck must not fail on those
            alive, why = probe(*probe_settings(args))
            sys.stdout.write(f"{why}\n")
            return 0 if alive else 1
        config = from_args(args)
        validate(config)
    except ConfigError as exc:
        sys.stderr.write(f"watch: {exc}\n")
        return 2
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("watch: %s received, stopping", signal.Signals(signum).name)
        stop.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    return Watch(config).run(stop)
