"""Why a task failed when its own process could not say: what Airflow recorded, read back.

Airflow keeps no "killed by a signal" state: a SIGKILLed task is just FAILED. The one place that says so is
the task's log, where the supervisor (Airflow 3) writes ``Process terminated by signal`` with the signal's
name, and Airflow 2's LocalTaskJob writes ``Task exited with return code Negsignal.SIGKILL``. A heartbeat
timeout is recorded by the scheduler as a ``heartbeat timeout`` event in the ``log`` table.

Reads are bounded (the log's last 64 KB; one indexed query) and only done where a failure is being reported.
Airflow is never imported here: only used when the process already loaded it. Nothing here raises.
"""

from __future__ import annotations

import importlib
import json
import logging
import os
import re
import signal
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from ..._text import to_text

logger = logging.getLogger("alerts_lib.airflow")

HEARTBEAT = "lost its heartbeat (its process, worker or pod died)"
LOST = "no error was reported: it lost its heartbeat or was killed outside Airflow"
MANUAL = "marked failed by hand"
NEVER_STARTED = "failed before it started: the executor reported it failed while it was queued"
TAIL_BYTES = 65_536

_AF2_EXIT = re.compile(r"Task exited with return code (?:Negsignal\.)?(SIG[A-Z0-9]+|-\d+)")


def signal_text(name: str) -> str:
    """``killed by a signal (SIGKILL: likely out of memory)``."""
    name = name.upper()
    if name.lstrip("-").isdigit():
        name = _signal_name(int(name.lstrip("-")))
    detail = {"SIGKILL": ": likely out of memory, or killed by hand", "SIGSEGV": ": a crash in native code"}
    return f"killed by a signal ({name}{detail.get(name, '')})"


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"


def of_task(ti: Any, dag_id: Any, run_id: Any, task_id: Any = None) -> str | None:
    """What the task's local log says about how its process ended, or None (no log here, nothing said)."""
    try:
        path = log_path(
            _get(ti, "dag_id") or dag_id,
            _get(ti, "run_id") or run_id,
            _get(ti, "task_id") or task_id,
            _get(ti, "map_index"),
            _get(ti, "try_number"),
        )
        return from_log(path) if path is not None else None
    except Exception as exc:
        logger.debug("alerts_lib: could not read the task log (%s)", type(exc).__name__)
        return None


def from_log(path: Path) -> str | None:
    """The signal that ended a task, from the tail of its log file."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - TAIL_BYTES))
            tail = handle.read().decode("utf-8", "replace")
    except OSError:
        return None
    for line in reversed(tail.splitlines()):
        if "Process terminated by signal" in line:  # Airflow 3's supervisor, a JSON line
            try:
                name = json.loads(line).get("signal_name")
            except (ValueError, AttributeError):
                name = None
            return signal_text(to_text(name)) if name else "killed by a signal"
        match = _AF2_EXIT.search(line)
        if match:
            return signal_text(match.group(1))
    return None


def log_path(dag_id: Any, run_id: Any, task_id: Any, map_index: Any, try_number: Any) -> Path | None:
    """Where Airflow's file task handler wrote this try's log, from ``[logging]`` (Jinja template only)."""
    if None in (dag_id, run_id, task_id, try_number) or "airflow" not in sys.modules:
        return None
    conf = _airflow_conf()
    if conf is None:
        return None
    folder = to_text(conf.get("logging", "base_log_folder", fallback="")).strip()
    template = to_text(conf.get("logging", "log_filename_template", fallback="")).strip()
    if not folder or "{{" not in template:
        return None
    sandbox = importlib.import_module("jinja2.sandbox")  # Airflow's own dependency

    index = map_index if isinstance(map_index, int) and not isinstance(map_index, bool) else -1
    ti = SimpleNamespace(dag_id=dag_id, run_id=run_id, task_id=task_id, map_index=index, try_number=try_number)
    env = sandbox.SandboxedEnvironment(autoescape=False)
    path = (Path(folder) / env.from_string(template).render(ti=ti, try_number=try_number)).resolve()
    return path if path.is_relative_to(Path(folder).resolve()) else None


def of_executor_report(error: object) -> str | None:
    """The scheduler's ``error`` for a task the executor reported failed behind Airflow's back."""
    text = to_text(error) if error is not None else ""
    if "reported that the task instance" in text and "state attribute is queued" in text:
        return NEVER_STARTED
    return None


def heartbeat_logged(dag_id: str, run_id: str, task_id: str, map_index: int, try_number: int | None) -> bool:
    """Whether the scheduler logged a heartbeat timeout for this try (server processes only: a DB query)."""
    try:
        select = importlib.import_module("sqlalchemy").select
        Log = importlib.import_module("airflow.models.log").Log
        create_session = importlib.import_module("airflow.utils.session").create_session
        query = (
            select(Log.id)
            .where(Log.dag_id == dag_id, Log.run_id == run_id, Log.task_id == task_id, Log.map_index == map_index)
            .where(Log.event == "heartbeat timeout")
        )
        if try_number is not None:
            query = query.where(Log.try_number == try_number)
        with create_session() as session:
            return session.execute(query.limit(1)).first() is not None
    except Exception as exc:
        logger.debug("alerts_lib: could not read Airflow's event log (%s)", type(exc).__name__)
        return False


def _airflow_conf() -> Any:
    for module in ("airflow.configuration", "airflow.sdk.configuration"):
        found = sys.modules.get(module)
        if found is not None and hasattr(found, "conf"):
            return found.conf
    try:
        return importlib.import_module("airflow.configuration").conf
    except Exception:
        return None


def _get(obj: Any, name: str) -> Any:
    try:
        return getattr(obj, name, None) if obj is not None and not isinstance(obj, dict) else (obj or {}).get(name)
    except Exception:
        return None
