"""``python -m alerts_lib watch``: watch what cannot alert for itself, and alert on its transitions only.

Airflow's components, DAG files that stop importing, DAGs whose runs are overdue or run too long, and HTTP
health endpoints, polled every interval; a failure seen on two polls in a row is one alert, its end one
recovery saying how long it lasted. For embedding::

    from alerts_lib.watch import Watch, WatchConfig, Target

    stop = threading.Event()
    Watch(WatchConfig(http=(Target("model", "http://fastapi:8000/health"),), interval=15)).run(stop)
"""

from __future__ import annotations

import threading

from .._text import duration_text as format_duration
from ._cli import add_parser, main, run_cli
from ._config import ConfigError, Secret, Target, WatchConfig, parse_duration
from ._loop import Watch, probe
from ._state import Key, Observation, Transition

__all__ = [
    "ConfigError",
    "Key",
    "Observation",
    "Secret",
    "Target",
    "Transition",
    "Watch",
    "WatchConfig",
    "add_parser",
    "format_duration",
    "main",
    "parse_duration",
    "probe",
    "run",
    "run_cli",
]


def run(config: WatchConfig, stop: threading.Event | None = None) -> int:
    """Watch until ``stop`` is set (forever without one), then return 0."""
    return Watch(config).run(stop)
