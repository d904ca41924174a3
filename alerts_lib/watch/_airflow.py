"""Airflow, seen from outside: component health, import errors, overdue DAGs and runs running too long.

Health (``/api/v2/monitor/health``; Airflow 2: ``/health``) needs no login and always answers 200, with each
component's status and last heartbeat. The rest needs a login: Airflow 3 trades the user/password for a JWT at
``POST /auth/token`` (or ``GET /auth/token`` when the simple auth manager makes everyone admin) and a 401 later
means the token expired, so it logs in again once; Airflow 2 takes basic auth on ``/api/v1``. Every field read
from Airflow is untrusted: it goes into alerts as a raw, clipped value (destinations escape it).
"""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timezone
from typing import Any

from .._text import clip, duration_text
from ._config import WatchConfig
from ._http import Http, Reply
from ._result import PollResult
from ._state import Key, Observation

log = logging.getLogger("alerts_lib.watch")

UNREACHABLE = "AirflowUnreachable"
COMPONENT = "AirflowComponentUnhealthy"
IMPORT_ERROR = "AirflowImportError"
OVERDUE = "AirflowDagOverdue"
TOO_LONG = "AirflowDagRunTooLong"
API_ERROR = "AirflowApiError"

# The components of the health answer, and how alerts name them.
COMPONENTS = {
    "metadatabase": "metadata database",
    "scheduler": "scheduler",
    "triggerer": "triggerer",
    "dag_processor": "DAG processor",
}
PAGE = 100
MAX_PAGES = 20  # 2,000 DAGs / import errors / running runs per poll at most
MAX_ID = 120
MAX_PATH = 160
MAX_ERROR_LINE = 300


class _ApiFailure(Exception):
    """An authenticated read that did not give the expected JSON; the message is in words, secret-free."""


class Airflow:
    """One Airflow deployment. Keeps its API version and token between polls."""

    def __init__(self, config: WatchConfig) -> None:
        assert config.airflow
        self.base = config.airflow.rstrip("/")
        self.config = config
        self.major: int | None = None  # 3 or 2, found from which health endpoint answers
        self._token: str | None = None  # a JWT: never logged, never shown
        self._login = asyncio.Lock()  # made again by each poll: ``poll_once`` runs each on an event loop of its own

    # -- the poll -----------------------------------------------------------------------------------------
    def cut_off(self, http: Http, result: PollResult, budget: float) -> None:
        """The poll ran out of its budget: an API that has not even answered its health check is unreachable."""
        if not result.covered:
            result.add(Key.of(UNREACHABLE), unreachable(f"no answer within {duration_text(budget)}"))
            result.cover(UNREACHABLE)

    async def poll(self, http: Http, result: PollResult) -> None:
        self._login = asyncio.Lock()
        health = await self._health(http)
        result.cover(UNREACHABLE)
        if isinstance(health, Observation):  # no usable answer: one alert, not one per component
            result.add(Key.of(UNREACHABLE), health)
            return
        result.add(Key.of(UNREACHABLE), Observation.healthy())
        scheduler_ok = self._components(health, result)
        try:
            await self._authenticate(http)
        except _ApiFailure as exc:
            result.add(Key.of(API_ERROR, endpoint="auth"), _api_failure("log in to", str(exc)))
            return
        result.add(Key.of(API_ERROR, endpoint="auth"), Observation.healthy())
        reads = [self._import_errors(http, result)]
        if scheduler_ok:  # with the scheduler down every DAG gets late: that is its alert, not one per DAG
            reads.append(self._overdue(http, result))
        if self.config.watches_runtimes:
            reads.append(self._runtimes(http, result))
        await asyncio.gather(*reads)

    # -- health -------------------------------------------------------------------------------------------
    async def _health(self, http: Http) -> dict[str, Any] | Observation:
        paths = {3: "/api/v2/monitor/health", 2: "/health"}
        order = [self.major] if self.major else [3, 2]
        reply = Reply(None, error="no health endpoint")
        for major in order:
            reply = await http.get(self.base + paths[major])
            if reply.status == 404 and len(order) > 1:
                continue
            break
        try:
            data = _json_of(reply)
        except _ApiFailure as exc:
            return unreachable(str(exc))
        if not isinstance(data, dict) or not any(isinstance(data.get(c), dict) for c in COMPONENTS):
            return unreachable("answered JSON of another shape (is this Airflow?)")
        if self.major is None:
            self.major = major
            log.info("watch: Airflow %s API at %s", "3" if major == 3 else "2", self.base)
        return data

    def _components(self, health: dict[str, Any], result: PollResult) -> bool:
        """Observe each component; True when the scheduler is healthy."""
        result.cover(COMPONENT)
        database = health.get("metadatabase")
        database_down = isinstance(database, dict) and database.get("status") not in (None, "healthy")
        scheduler_ok = False
        for component, label in COMPONENTS.items():
            entry = health.get(component)
            key = Key.of(COMPONENT, component=component)
            if not isinstance(entry, dict) or entry.get("status") is None:
                continue  # not deployed (Airflow reports no triggerer that never ran)
            if database_down and component != "metadatabase":
                result.covered.discard(COMPONENT)  # unknown while the database is down: keep their states
                continue
            if entry.get("status") == "healthy":
                result.add(key, Observation.healthy())
                scheduler_ok |= component == "scheduler"
                continue
            heartbeat = _latest_heartbeat(entry)
            age = _age(heartbeat)
            title = f"Airflow {label} unhealthy"
            if age is not None:
                title += f": last heartbeat {duration_text(age)} ago"
            elif component != "metadatabase":
                title += ": no heartbeat"
            fields = {"component": component, "status": clip(str(entry.get("status")), 40)}
            fields["last heartbeat"] = clip(str(heartbeat), 40) if heartbeat else ""
            result.add(
                key,
                Observation.failing(
                    "unhealthy", title, f"Airflow {label} healthy again", severity="critical", fields=fields
                ),
            )
        return scheduler_ok or "scheduler" not in health

    # -- authentication -----------------------------------------------------------------------------------
    async def _authenticate(self, http: Http) -> None:
        if self.major == 2 or self._token is not None:
            return
        user, password = self.config.airflow_user, self.config.airflow_password
        if user and password is not None:
            reply = await http.post(
                f"{self.base}/auth/token", json_body={"username": user, "password": password.get_secret_value()}
            )
        else:
            reply = await http.get(f"{self.base}/auth/token")
        if not reply.answered:
            raise _ApiFailure(f"/auth/token: {reply.describe()}")
        if not reply.ok:
            hint = _auth_hint(reply.status, bool(user))
            raise _ApiFailure(f"/auth/token answered HTTP {reply.status}{hint}")
        data = reply.json()
        token = data.get("access_token") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise _ApiFailure("/auth/token answered without an access_token")
        self._token = token

    async def _get(self, http: Http, path: str, params: dict[str, str | int]) -> Any:
        """GET an authenticated API path (``/importErrors``) as JSON; logs in again once on a 401."""
        url = f"{self.base}/api/{'v1' if self.major == 2 else 'v2'}{path}"
        for attempt in (1, 2):
            used = self._token
            reply = await http.get(url, params=params, **self._auth())
            if reply.status == 401 and self.major != 2 and attempt == 1:
                async with self._login:  # concurrent reads that all got a 401 log in once
                    if self._token == used:
                        self._token = None  # expired: log in again, once
                        await self._authenticate(http)
                continue
            break
        return _json_of(reply, _auth_hint(reply.status, bool(self.config.airflow_user)))

    def _auth(self) -> dict[str, Any]:
        if self.major == 2:
            user, password = self.config.airflow_user, self.config.airflow_password
            return {"auth": (user, password.get_secret_value())} if user and password is not None else {}
        return {"headers": {"Authorization": f"Bearer {self._token}"}} if self._token else {}

    async def _pages(self, http: Http, path: str, list_key: str, params: dict[str, str | int]) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        for page in range(MAX_PAGES):
            data = await self._get(http, path, {**params, "limit": PAGE, "offset": page * PAGE})
            batch = data.get(list_key) if isinstance(data, dict) else None
            if not isinstance(batch, list):
                raise _ApiFailure(f"answered JSON of another shape (no {list_key!r} list)")
            items += [item for item in batch if isinstance(item, dict)]
            total = data.get("total_entries")
            if len(batch) < PAGE or (isinstance(total, int) and len(items) >= total):
                break
        return items

    async def _read(
        self,
        http: Http,
        result: PollResult,
        endpoint: str,
        name: str,
        path: str,
        list_key: str,
        params: dict[str, str | int],
    ) -> list[dict[str, Any]] | None:
        key = Key.of(API_ERROR, endpoint=endpoint)
        try:
            items = await self._pages(http, path, list_key, params)
        except _ApiFailure as exc:
            result.add(key, _api_failure(f"read {endpoint} from", f"{path}: {exc}"))
            return None
        result.add(key, Observation.healthy())
        result.cover(name)
        return items

    # -- import errors ------------------------------------------------------------------------------------
    async def _import_errors(self, http: Http, result: PollResult) -> None:
        items = await self._read(http, result, "importErrors", IMPORT_ERROR, "/importErrors", "import_errors", {})
        for item in items or ():
            filename = item.get("filename")
            if not isinstance(filename, str) or not filename:
                continue
            file = clip(filename, MAX_PATH)
            error = _last_line(item.get("stack_trace") or item.get("stacktrace"))
            result.add(
                Key.of(IMPORT_ERROR, file=file),
                Observation.failing(
                    "import error",
                    f"DAG file {file} does not import: {error}",
                    f"DAG file {file} imports again",
                    fields={
                        "file": file,
                        "bundle": clip(str(item.get("bundle_name") or ""), MAX_ID),
                        "error": error,
                        "since": clip(str(item.get("timestamp") or ""), 40),
                    },
                ),
            )

    # -- overdue DAGs -------------------------------------------------------------------------------------
    async def _overdue(self, http: Http, result: PollResult) -> None:
        items = await self._read(http, result, "dags", OVERDUE, "/dags", "dags", {"paused": "false"})
        now = datetime.now(timezone.utc)
        for dag in items or ():
            dag_id = dag.get("dag_id")
            if not isinstance(dag_id, str) or dag.get("is_paused") is not False:
                continue
            if dag.get("is_stale") is True or dag.get("is_active") is False or dag.get("has_import_errors") is True:
                continue  # deleted, or broken (its import error is the alert)
            due = _parse_time(dag.get("next_dagrun_run_after") or dag.get("next_dagrun_create_after"))
            if due is None:
                continue
            late = (now - due).total_seconds()
            grace = self.config.grace_for(dag_id)
            if late <= grace:
                continue
            shown = clip(dag_id, MAX_ID)
            result.add(
                Key.of(OVERDUE, dag_id=shown),
                Observation.failing(
                    "overdue",
                    f"DAG {shown} overdue: its next run was due {duration_text(late)} ago",
                    f"DAG {shown} scheduled again",
                    severity="warning",
                    fields={"dag_id": shown, "due": due.isoformat(), "grace": duration_text(grace)},
                ),
            )

    # -- runs running too long ----------------------------------------------------------------------------
    async def _runtimes(self, http: Http, result: PollResult) -> None:
        path = "/dags/~/dagRuns"
        items = await self._read(http, result, "dagRuns", TOO_LONG, path, "dag_runs", {"state": "running"})
        now = datetime.now(timezone.utc)
        longest: dict[str, tuple[float, float, dict[str, Any]]] = {}
        for run in items or ():
            dag_id = run.get("dag_id")
            started = _parse_time(run.get("start_date"))
            limit = self.config.max_runtime_for(dag_id) if isinstance(dag_id, str) else None
            if not isinstance(dag_id, str) or started is None or limit is None:
                continue
            running = (now - started).total_seconds()
            if running > limit and running > longest.get(dag_id, (0.0, 0.0, {}))[0]:
                longest[dag_id] = (running, limit, run)
        for dag_id, (running, limit, run) in longest.items():
            shown = clip(dag_id, MAX_ID)
            run_id = clip(str(run.get("dag_run_id") or run.get("run_id") or ""), MAX_ID)
            result.add(
                Key.of(TOO_LONG, dag_id=shown),
                Observation.failing(
                    "too long",
                    f"DAG {shown} run running for {duration_text(running)} (limit {duration_text(limit)})",
                    f"DAG {shown} has no run over {duration_text(limit)} any more",
                    severity="warning",
                    fields={"dag_id": shown, "run_id": run_id, "started": clip(str(run.get("start_date")), 40)},
                ),
            )


# -- helpers ------------------------------------------------------------------------------------------------


def unreachable(why: str) -> Observation:
    return Observation.failing(
        "unreachable", f"Airflow API unreachable: {why}", "Airflow API reachable again", severity="critical"
    )


def _api_failure(doing: str, why: str) -> Observation:
    return Observation.failing(
        "api error", f"watch cannot {doing} Airflow: {why}", f"watch can {doing} Airflow again", severity="warning"
    )


def _json_of(reply: Reply, hint: str = "") -> Any:
    """The JSON of a 2xx answer, or :class:`_ApiFailure` saying in words what came instead."""
    if not reply.answered:
        raise _ApiFailure(reply.describe())
    if not reply.ok:
        raise _ApiFailure(f"answered HTTP {reply.status}{hint}")
    data = reply.json()
    if data is None:
        raise _ApiFailure("answered something other than JSON (an HTML page?)")
    return data


def _auth_hint(status: int | None, has_user: bool) -> str:
    if status == 401:
        return " (check --airflow-user and its password)" if has_user else " (set --airflow-user and a password)"
    if status == 403:
        return (
            " (the user lacks permission to read this)"
            if has_user
            else " (anonymous access refused: set --airflow-user)"
        )
    return ""


def _latest_heartbeat(entry: dict[str, Any]) -> str | None:
    for name, value in entry.items():
        if name.startswith("latest_") and name.endswith("heartbeat") and isinstance(value, str) and value:
            return value
    return None


def _parse_time(value: object) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)


def _age(value: str | None) -> float | None:
    parsed = _parse_time(value)
    return None if parsed is None else max(0.0, (datetime.now(timezone.utc) - parsed).total_seconds())


def _last_line(trace: object) -> str:
    """``RuntimeError: broken on purpose``: the line of a traceback that says what went wrong."""
    lines = [line.strip() for line in str(trace or "").splitlines() if line.strip()]
    return clip(lines[-1], MAX_ERROR_LINE) if lines else "(no error text)"
