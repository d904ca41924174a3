"""HTTP health endpoints (``--http NAME=URL``): down, degraded or healthy, said in words.

Down: no answer (refused, timed out, cut off), or any non-2xx status. Degraded: a 2xx JSON body whose
``status`` is not ok-like. The model service's ``/health`` is read for what it means: 200 ``degraded`` names the
variants that are not loaded, 503 means nothing is loaded at all. Any other 2xx answer (plain text, HTML, JSON
without a ``status``) counts as healthy: many services answer ``OK``.
"""

from __future__ import annotations

from typing import Any

from .._text import clip
from ._config import Target
from ._http import Http, Reply
from ._result import PollResult
from ._state import Key, Observation

SERVICE_DOWN = "ServiceDown"
OK_WORDS = {"ok", "healthy", "pass", "up", "alive", "green"}
MAX_WORD = 60


class Service:
    """One ``--http`` target."""

    def __init__(self, target: Target) -> None:
        self.target = target
        self.key = Key.of(SERVICE_DOWN, service=target.name)

    async def poll(self, http: Http, result: PollResult) -> None:
        result.add(self.key, judge(self.target.name, await http.get(self.target.url)))

    def cut_off(self, http: Http, result: PollResult, budget: float) -> None:
        """The poll ran out of its budget before its request timed out (a loaded host): that is no answer too.
        Without a verdict the key would keep its last state, and a hanging service would never alert."""
        if self.key not in result.observations:
            result.add(self.key, judge(self.target.name, http.timed_out()))


def judge(name: str, reply: Reply) -> Observation:
    """The verdict on one answer of the endpoint of service ``name``."""
    recovered = f"service {name} healthy again"
    if not reply.answered:
        return _down(name, reply.describe(), recovered)
    assert reply.status is not None
    data = reply.json()
    body = data if isinstance(data, dict) else {}
    if not reply.ok:
        why = f"HTTP {reply.status}"
        words = _model_words(body)
        return _down(name, f"{why}, {words}" if words else why, recovered, body)
    status = body.get("status")
    if status is None or str(status).strip().lower() in OK_WORDS:
        return Observation.healthy()
    words = _model_words(body) or f"status {clip(str(status), MAX_WORD)!r}"
    return Observation.failing(
        "degraded", f"service {name} degraded: {words}", recovered, severity="warning", fields=_fields(body)
    )


def _down(name: str, why: str, recovered: str, body: dict[str, Any] | None = None) -> Observation:
    return Observation.failing(
        "down", f"service {name} down: {why}", recovered, severity="critical", fields=_fields(body or {})
    )


def _model_words(body: dict[str, Any]) -> str:
    """What the model service's health body means: ``@B not loaded (serving @A)``, ``no variant loaded``."""
    loaded, missing = _names(body.get("loaded")), _names(body.get("missing"))
    if loaded is None and missing is None:
        return ""
    if not loaded:
        return "no model variant loaded" + (f" (expected {_aliases(missing)})" if missing else "")
    if missing:
        return f"{_aliases(missing)} not loaded (serving {_aliases(loaded)})"
    return f"serving {_aliases(loaded)}"


def _names(value: object) -> list[str] | None:
    if not isinstance(value, list):
        return None
    return [clip(str(v), MAX_WORD) for v in value[:20]]


def _aliases(names: list[str] | None) -> str:
    return ", ".join(f"@{n.lstrip('@')}" for n in names or ())


def _fields(body: dict[str, Any]) -> dict[str, object]:
    """The model service's reasons per variant (``errors``), clipped: the on-call sees why without a shell."""
    fields: dict[str, object] = {}
    errors = body.get("errors")
    if isinstance(errors, dict):
        for alias, reason in list(errors.items())[:5]:
            fields[f"@{clip(str(alias), MAX_WORD)}"] = clip(str(reason), 300)
    return fields
