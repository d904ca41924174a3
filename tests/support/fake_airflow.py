"""An Airflow API stand-in on a real local HTTP server, shaped like Airflow 3.3.2's answers (captured from
the real one in tests/test_watch_airflow.py): health, JWT login with expiry, import errors, DAGs, runs."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

from tests.support.fake_http import Answer, FakeHTTP, Seen, json_answer

USER = "watcher"
PASSWORD = "pa55-W0RD-never-in-logs"


def iso(delta_seconds: float = 0.0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=delta_seconds)).isoformat()


def healthy() -> dict[str, Any]:
    return {
        "metadatabase": {"status": "healthy"},
        "scheduler": {"status": "healthy", "latest_scheduler_heartbeat": iso()},
        "triggerer": {"status": "healthy", "latest_triggerer_heartbeat": iso()},
        "dag_processor": {"status": "healthy", "latest_dag_processor_heartbeat": iso()},
    }


def dag(dag_id: str, *, due_in: float | None = 3600.0, paused: bool = False, **extra: Any) -> dict[str, Any]:
    return {
        "dag_id": dag_id,
        "is_paused": paused,
        "is_stale": False,
        "has_import_errors": False,
        "next_dagrun_run_after": None if due_in is None else iso(due_in),
        **extra,
    }


@dataclass
class FakeAirflow:
    server: FakeHTTP
    health: dict[str, Any] = field(default_factory=healthy)
    import_errors: list[dict[str, Any]] = field(default_factory=list)
    dags: list[dict[str, Any]] = field(default_factory=list)
    runs: list[dict[str, Any]] = field(default_factory=list)
    tokens: set[str] = field(default_factory=set)
    logins: int = 0

    def __post_init__(self) -> None:
        s = self.server
        s.route("/api/v2/monitor/health", lambda _: json_answer(self.health))
        s.route("/auth/token", self._login)
        s.route("/api/v2/importErrors", self._authed(lambda: {"import_errors": self.import_errors}))
        s.route("/api/v2/dags", self._authed(lambda: {"dags": self.dags}))
        s.route("/api/v2/dags/~/dagRuns", self._authed(lambda: {"dag_runs": self.runs}))

    @property
    def url(self) -> str:
        return self.server.url()

    def expire_tokens(self) -> None:
        self.tokens.clear()

    def add_import_error(self, filename: str, last_line: str) -> None:
        trace = f'Traceback (most recent call last):\n  File "{filename}", line 3, in <module>\n{last_line}\n'
        self.import_errors.append(
            {
                "import_error_id": len(self.import_errors) + 1,
                "timestamp": iso(),
                "filename": filename,
                "bundle_name": "dags-folder",
                "stack_trace": trace,
            }
        )

    def _login(self, seen: Seen) -> Answer:
        if seen.method != "POST":
            return json_answer({"detail": "Login with credentials"}, 403)
        body = json.loads(seen.body or b"{}")
        if (body.get("username"), body.get("password")) != (USER, PASSWORD):
            return json_answer({"detail": "Invalid credentials"}, 401)
        self.logins += 1
        token = "eyJ" + secrets.token_urlsafe(24)
        self.tokens.add(token)
        return json_answer({"access_token": token}, 201)

    def _authed(self, payload: Any) -> Any:
        def route(seen: Seen) -> Answer:
            auth = seen.headers.get("Authorization", "")
            if auth.removeprefix("Bearer ") not in self.tokens:
                return json_answer({"detail": "Not authenticated"}, 401)
            data = payload()
            items = next(iter(data.values()))
            offset = int(seen.query.get("offset", ["0"])[0])
            limit = int(seen.query.get("limit", ["50"])[0])
            key = next(iter(data))
            return json_answer({key: items[offset : offset + limit], "total_entries": len(items)})

        return route
