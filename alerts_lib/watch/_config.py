"""The watch's configuration: flags, each with an environment variable of the same name (the flag wins).

Parsing is strict (a typo in ``--interval`` stops the watch at startup with the fix in the message), unlike the
library's settings, because a watch that runs with a wrong target watches nothing. The Airflow password is read
from an environment variable or a file and only ever held in a :class:`Secret` (pydantic's ``SecretStr``, as the
library's settings hold the webhook), whose repr and str are masked.
"""

from __future__ import annotations

import argparse
import os
import re
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import SecretStr

from .._text import duration_text

DEFAULT_INTERVAL = 15.0
DEFAULT_OVERDUE_GRACE = 600.0
DEFAULT_PASSWORD_ENV = "AIRFLOW_WATCH_PASSWORD"  # noqa: S105 (the name of a variable, not a password)
DEFAULT_STATUS_FILE = Path(tempfile.gettempdir()) / "alerts_lib-watch.status"
MAX_POLL_TIMEOUT = 10.0  # no single request may take longer, whatever the interval

_DURATION = re.compile(r"^\s*(\d+(?:\.\d*)?|\.\d+)\s*([smh]?)\s*$", re.IGNORECASE)
_UNIT = {"": 1.0, "s": 1.0, "m": 60.0, "h": 3600.0}

Secret = SecretStr  # the Airflow password: ``get_secret_value()`` to use it, ``**********`` everywhere else


class ConfigError(ValueError):
    """A setting the watch cannot run with; the message names the flag/variable and never a secret."""


@dataclass(frozen=True)
class Target:
    """An HTTP health endpoint, watched under ``name``."""

    name: str
    url: str


@dataclass(frozen=True)
class WatchConfig:
    """What to watch and how often. Build it from flags/env with :func:`from_args`, or directly when embedding."""

    airflow: str | None = None
    airflow_user: str | None = None
    airflow_password: Secret | None = field(default=None, repr=False)
    http: tuple[Target, ...] = ()
    interval: float = DEFAULT_INTERVAL
    overdue_grace: float = DEFAULT_OVERDUE_GRACE
    overdue_grace_per_dag: Mapping[str, float] = field(default_factory=dict)
    max_runtime: float | None = None  # for every DAG; per DAG below wins
    max_runtime_per_dag: Mapping[str, float] = field(default_factory=dict)
    heartbeat_url: str | None = field(default=None, repr=False)  # a dead-man's-switch URL may embed a token
    status_file: Path = DEFAULT_STATUS_FILE

    @property
    def poll_timeout(self) -> float:
        """Hard bound of one request: short enough that a poll of every target ends within the interval."""
        return max(0.2, min(MAX_POLL_TIMEOUT, self.interval * 0.8))

    def grace_for(self, dag_id: str) -> float:
        return self.overdue_grace_per_dag.get(dag_id, self.overdue_grace)

    def max_runtime_for(self, dag_id: str) -> float | None:
        return self.max_runtime_per_dag.get(dag_id, self.max_runtime)

    @property
    def watches_runtimes(self) -> bool:
        return self.max_runtime is not None or bool(self.max_runtime_per_dag)

    def describe(self) -> list[tuple[str, str]]:
        """What is watched, in words, with no secret: the startup alert's fields."""
        out: list[tuple[str, str]] = []
        if self.airflow:
            what = "components, import errors, overdue DAGs" + (", run times" if self.watches_runtimes else "")
            auth = f" as {self.airflow_user}" if self.airflow_user else ""
            out.append(("airflow", f"{display_url(self.airflow)}{auth} ({what})"))
        for target in self.http:
            out.append((f"service {target.name}", display_url(target.url)))
        out.append(("interval", duration_text(self.interval)))
        out.append(("heartbeat", "pinged every interval" if self.heartbeat_url else "none (set --heartbeat-url)"))
        return out


# -- values ---------------------------------------------------------------------------------------------------


def parse_duration(text: str, what: str = "duration") -> float:
    """Seconds from ``90``, ``90s``, ``10m`` or ``2h``."""
    match = _DURATION.match(str(text))
    if not match or float(match.group(1)) <= 0:
        raise ConfigError(f"{what}: {text!r} is not a duration (use e.g. 90, 90s, 10m, 2h)")
    return float(match.group(1)) * _UNIT[match.group(2).lower()]


def display_url(url: str) -> str:
    """``url`` without user info, query or fragment (where credentials and tokens hide)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "(invalid URL)"
    return f"{parts.scheme}://{host}{parts.path}"


def _check_url(url: str, what: str) -> str:
    url = url.strip()
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018  (raises ValueError for a bad port)
    except ValueError:
        raise ConfigError(f"{what}: not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(f"{what}: needs an http:// or https:// URL with a host, got {display_url(url)!r}")
    return url


def parse_targets(values: Sequence[str], what: str = "--http") -> tuple[Target, ...]:
    """``NAME=URL`` entries; names are unique."""
    targets: list[Target] = []
    for value in values:
        name, sep, url = value.partition("=")
        name = name.strip()
        if not sep or not name or not url.strip():
            raise ConfigError(
                f"{what}: {value.split('=')[0]!r}… must be NAME=URL (e.g. model=http://fastapi:8000/health)"
            )
        if any(t.name == name for t in targets):
            raise ConfigError(f"{what}: the name {name!r} is used twice")
        targets.append(Target(name, _check_url(url, f"{what} {name}")))
    return tuple(targets)


def parse_per_dag(values: Sequence[str], what: str) -> tuple[float | None, dict[str, float]]:
    """``D`` (every DAG) and ``dag_id=D`` (that DAG) entries: (default, per DAG)."""
    default: float | None = None
    per_dag: dict[str, float] = {}
    for value in values:
        dag_id, sep, duration = value.rpartition("=")
        if sep and not dag_id.strip():
            raise ConfigError(f"{what}: {value!r} must be D or dag_id=D")
        seconds = parse_duration(duration, f"{what} {dag_id.strip() or ''}".strip())
        if sep:
            per_dag[dag_id.strip()] = seconds
        else:
            default = seconds
    return default, per_dag


def _split(env_value: str | None) -> list[str]:
    return [part.strip() for part in (env_value or "").split(",") if part.strip()]


# -- flags and environment ------------------------------------------------------------------------------------

ENV = {
    "airflow": "ALERTS_WATCH_AIRFLOW",
    "airflow_user": "ALERTS_WATCH_AIRFLOW_USER",
    "airflow_password_env": "ALERTS_WATCH_AIRFLOW_PASSWORD_ENV",
    "airflow_password_file": "ALERTS_WATCH_AIRFLOW_PASSWORD_FILE",
    "http": "ALERTS_WATCH_HTTP",
    "interval": "ALERTS_WATCH_INTERVAL",
    "overdue_grace": "ALERTS_WATCH_OVERDUE_GRACE",
    "max_runtime": "ALERTS_WATCH_MAX_RUNTIME",
    "heartbeat_url": "ALERTS_WATCH_HEARTBEAT_URL",
    "status_file": "ALERTS_WATCH_STATUS_FILE",
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The watch's flags; each defaults to None so that :func:`from_args` falls back to its env var."""

    def arg(flag: str, help: str, **kw: Any) -> None:
        name = flag.removeprefix("--").replace("-", "_")
        parser.add_argument(flag, help=f"{help} [{ENV[name]}]", **kw)

    arg("--airflow", "Airflow base URL, e.g. http://airflow:8080", metavar="URL")
    arg("--airflow-user", "user for the JWT (Airflow 3) or basic auth (Airflow 2)", metavar="U")
    arg("--airflow-password-env", f"env var holding the password (default {DEFAULT_PASSWORD_ENV})", metavar="NAME")
    arg("--airflow-password-file", "or a file holding it (a k8s secret volume)", metavar="PATH")
    arg("--http", "an HTTP health endpoint (repeatable)", metavar="NAME=URL", action="append")
    arg("--interval", f"time between polls (default {DEFAULT_INTERVAL:g} s)", metavar="S")
    arg(
        "--overdue-grace",
        "how late a DAG's next run may be (default 10m; repeatable per DAG)",
        metavar="D|dag_id=D",
        action="append",
    )
    arg("--max-runtime", "alert on runs running longer (repeatable)", metavar="D|dag_id=D", action="append")
    arg("--heartbeat-url", "dead-man's switch pinged (GET) every interval", metavar="URL")
    arg("--status-file", f"written after every poll (default {DEFAULT_STATUS_FILE})", metavar="PATH")
    parser.add_argument("--probe", action="store_true", help="exit 0 if the status file is fresher than 3 intervals")
    parser.epilog = "Each flag falls back to the env var in brackets; durations: 90, 90s, 10m, 2h."


def _pick(args: argparse.Namespace, name: str, environ: Mapping[str, str]) -> str | None:
    value = getattr(args, name, None)
    if value is not None:
        return str(value)
    env_value = environ.get(ENV[name], "").strip()
    return env_value or None


def _pick_list(args: argparse.Namespace, name: str, environ: Mapping[str, str]) -> list[str]:
    values = getattr(args, name, None)
    return list(values) if values else _split(environ.get(ENV[name]))


def from_args(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> WatchConfig:
    """The configuration from parsed flags, falling back to the environment; raises :class:`ConfigError`."""
    env = os.environ if environ is None else environ
    status_file, interval = probe_settings(args, env)
    grace_default, grace_per_dag = parse_per_dag(_pick_list(args, "overdue_grace", env), "--overdue-grace")
    runtime_default, runtime_per_dag = parse_per_dag(_pick_list(args, "max_runtime", env), "--max-runtime")
    airflow = _pick(args, "airflow", env)
    user = _pick(args, "airflow_user", env)
    heartbeat = _pick(args, "heartbeat_url", env)
    return WatchConfig(
        airflow=_check_url(airflow, "--airflow").rstrip("/") if airflow else None,
        airflow_user=user,
        airflow_password=_password(args, env) if airflow else None,
        http=parse_targets(_pick_list(args, "http", env)),
        interval=interval,
        overdue_grace=DEFAULT_OVERDUE_GRACE if grace_default is None else grace_default,
        overdue_grace_per_dag=grace_per_dag,
        max_runtime=runtime_default,
        max_runtime_per_dag=runtime_per_dag,
        heartbeat_url=_check_url(heartbeat, "--heartbeat-url") if heartbeat else None,
        status_file=status_file,
    )


def probe_settings(args: argparse.Namespace, environ: Mapping[str, str] | None = None) -> tuple[Path, float]:
    """(status file, interval): all ``--probe`` needs, read as the watch reads them."""
    env = os.environ if environ is None else environ
    interval_text = _pick(args, "interval", env)
    status_file = _pick(args, "status_file", env)
    return (
        Path(status_file) if status_file else DEFAULT_STATUS_FILE,
        parse_duration(interval_text, "--interval") if interval_text else DEFAULT_INTERVAL,
    )


def _password(args: argparse.Namespace, environ: Mapping[str, str]) -> Secret | None:
    """From the file when one is named, else from the named env var; None when neither is set."""
    path = _pick(args, "airflow_password_file", environ)
    if path:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"--airflow-password-file: cannot read {path} ({type(exc).__name__})") from None
        value = text.rstrip("\r\n")
        if not value:
            raise ConfigError(f"--airflow-password-file: {path} is empty")
        return Secret(value)
    name = _pick(args, "airflow_password_env", environ) or DEFAULT_PASSWORD_ENV
    value = environ.get(name, "")
    return Secret(value) if value else None


def validate(config: WatchConfig) -> None:
    """What makes a configuration unusable for a running watch (a probe needs none of it)."""
    if not config.airflow and not config.http:
        raise ConfigError("nothing to watch: pass --airflow URL and/or --http NAME=URL (or ALERTS_WATCH_*)")
    if config.airflow_user and config.airflow_password is None:
        raise ConfigError(
            "--airflow-user is set but no password was found: set the env var named by --airflow-password-env "
            f"(default {DEFAULT_PASSWORD_ENV}) or pass --airflow-password-file"
        )
