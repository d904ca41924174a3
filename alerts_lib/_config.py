"""Destinations and routes: which alert goes where.

Without ``ALERTS_CONFIG``, ``SLACK_WEBHOOK_URL`` is the one destination (``default``) and gets every alert. With
it, a TOML file names destinations (Slack, Teams, Alertmanager) and routes; ``${VAR}`` in a value is read from
the environment, so secrets stay out of the file. A problem in the file is one log line naming the file, line
and key (never a value); the destinations that are fine keep working.
"""

from __future__ import annotations

import logging
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from ._alert import Alert
from ._settings import Settings, webhook_problem
from .destinations.base import Destination

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib  # type: ignore[import-not-found, unused-ignore]

logger = logging.getLogger("alerts_lib")

DEFAULT = "default"
MATCH_KEYS = ("severity", "source", "env", "name")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class ConfigError(ValueError):
    """A problem with one key, in words that name it and never its value."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


@dataclass(frozen=True)
class Route:
    match: tuple[tuple[str, frozenset[str]], ...] = ()
    to: tuple[str, ...] = ()
    keep_looking: bool = False  # ``continue = true``

    def matches(self, facts: Mapping[str, str | None]) -> bool:
        return all(facts.get(key) in values for key, values in self.match)

    def describe(self) -> str:
        when = " and ".join(f"{k} in {sorted(v)}" for k, v in self.match) or "everything else"
        return f"{when} → {', '.join(self.to) or '(nowhere)'}{' (continue)' if self.keep_looking else ''}"


@dataclass
class Plan:
    """The destinations and routes in force, and what was wrong while building them."""

    destinations: dict[str, Destination] = field(default_factory=dict)
    routes: tuple[Route, ...] = ()
    origin: str = "SLACK_WEBHOOK_URL"
    problems: list[str] = field(default_factory=list)
    _cache: dict[tuple[str | None, ...], list[Destination]] = field(default_factory=dict, repr=False)

    def targets(self, alert: Alert | None, env: str | None) -> list[Destination]:
        """Where ``alert`` goes (a plain string counts as severity ``info`` with no source or name)."""
        if not self.routes:
            return list(self.destinations.values())
        if alert is None:
            facts_key: tuple[str | None, ...] = ("info", None, env, None)
        else:
            facts_key = (alert.severity.value, alert.source, alert.env or env, alert.name)
        known = self._cache.get(facts_key)
        if known is None:
            known = self._cache[facts_key] = self._route(dict(zip(MATCH_KEYS, facts_key, strict=True)))
            if len(self._cache) > 1000:  # bounded: alerts with ever-new sources cannot grow it forever
                self._cache.clear()
        return known

    def _route(self, facts: Mapping[str, str | None]) -> list[Destination]:
        names: list[str] = []
        for route in self.routes:
            if route.matches(facts):
                names += [n for n in route.to if n not in names]
                if not route.keep_looking:
                    break
        return [self.destinations[n] for n in names if n in self.destinations]


def build_plan(settings: Settings, environ: Mapping[str, str] | None = None) -> Plan:
    """The plan for ``settings``: from ``ALERTS_CONFIG`` when set, else ``SLACK_WEBHOOK_URL`` alone."""
    if not settings.config:
        return _default_plan(settings)
    plan = load_file(settings.config, settings, os.environ if environ is None else environ)
    for problem in plan.problems:
        logger.error("alerts_lib: %s", problem)
    return plan


def _default_plan(settings: Settings) -> Plan:
    from .destinations.slack import SlackDestination

    plan = Plan()
    if settings.webhook:
        plan.destinations[DEFAULT] = SlackDestination(DEFAULT, settings.webhook, min_interval=settings.min_interval)
    return plan


def webhook_destination(url: str, settings: Settings) -> Destination:
    """The destination of a per-call ``webhook_url=``: one Slack webhook, named by its masked URL."""
    from ._redact import mask_url
    from .destinations.slack import SlackDestination

    return SlackDestination(f"webhook {mask_url(url)}", url, min_interval=settings.min_interval)


def load_file(path: str, settings: Settings, environ: Mapping[str, str]) -> Plan:
    name = os.path.basename(path)
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        fallback = _default_plan(settings)
        fallback.problems.append(
            f"ALERTS_CONFIG {name} is unusable ({_reason(exc)}); "
            + ("alerts go to SLACK_WEBHOOK_URL only" if fallback.destinations else "no destination is configured")
        )
        return fallback
    plan = Plan(origin=path)
    where = _Locator(name, text)
    tables = data.get("destinations", {})
    if not isinstance(tables, dict) or not tables:
        plan.problems.append(where.say("destinations", "no [destinations.<name>] table: nothing is sent"))
        tables = {}
    for dest_name, table in tables.items():
        key = f"destinations.{dest_name}"
        try:
            if not isinstance(table, dict):
                raise ConfigError(key, "must be a table")
            plan.destinations[dest_name] = _build(dest_name, _substitute(table, key, environ), settings)
        except ConfigError as exc:
            plan.problems.append(where.say(exc.key, str(exc).split(": ", 1)[1] + "; this destination is skipped"))
    routes = data.get("routes", [])
    if not isinstance(routes, list):
        plan.problems.append(where.say("routes", "must be an array of [[routes]] tables"))
        routes = []
    plan.routes = tuple(_routes(routes, tables, where, plan.problems))
    unknown = sorted(set(data) - {"destinations", "routes", "watch"})
    if unknown:
        plan.problems.append(where.say(unknown[0], f"unknown top-level key(s) {unknown}; ignored"))
    return plan


def _routes(raw: list[Any], declared: Mapping[str, Any], where: _Locator, problems: list[str]) -> Iterable[Route]:
    for i, table in enumerate(raw):
        key = f"routes[{i}]"
        if not isinstance(table, dict):
            problems.append(where.say(key, "must be a table"))
            continue
        to = table.get("to", [])
        to = [to] if isinstance(to, str) else to
        if not isinstance(to, list) or not all(isinstance(t, str) for t in to):
            problems.append(where.say(f"{key}.to", "must be a destination name or a list of names"))
            continue
        for missing in [t for t in to if t not in declared]:
            problems.append(where.say(f"{key}.to", f"unknown destination {missing!r}; it is left out of this route"))
        match = table.get("match", {})
        if not isinstance(match, dict):
            problems.append(where.say(f"{key}.match", 'must be an inline table, e.g. { severity = "critical" }'))
            continue
        bad = sorted(set(match) - set(MATCH_KEYS))
        if bad:
            problems.append(where.say(f"{key}.match", f"unknown key(s) {bad}; use {list(MATCH_KEYS)}; route skipped"))
            continue
        pairs = tuple(
            (k, frozenset(str(v) for v in (values if isinstance(values, list) else [values])))
            for k, values in sorted(match.items())
        )
        extra = sorted(set(table) - {"to", "match", "continue"})
        if extra:
            problems.append(where.say(f"{key}", f"unknown key(s) {extra}; ignored"))
        yield Route(pairs, tuple(t for t in to if t in declared), bool(table.get("continue", False)))


def _substitute(value: Any, key: str, environ: Mapping[str, str]) -> Any:
    """``${VAR}`` replaced from the environment; an unset one is an error naming the key and the variable."""
    if isinstance(value, str):

        def lookup(m: re.Match[str]) -> str:
            if m.group(1) not in environ or not environ[m.group(1)].strip():
                raise ConfigError(key, f"${{{m.group(1)}}} is not set in the environment")
            return environ[m.group(1)].strip()

        return _VAR.sub(lookup, value)
    if isinstance(value, list):
        return [_substitute(v, f"{key}[{i}]", environ) for i, v in enumerate(value)]
    if isinstance(value, dict):
        return {k: _substitute(v, f"{key}.{k}", environ) for k, v in value.items()}
    return value


def _build(name: str, table: dict[str, Any], settings: Settings) -> Destination:
    kind = table.get("kind", "slack")
    builder = KINDS.get(kind)
    if builder is None:
        raise ConfigError(f"destinations.{name}.kind", f"unknown kind {kind!r}; use one of {sorted(KINDS)}")
    return builder(name, table, settings)


def _options(name: str, table: dict[str, Any], allowed: set[str]) -> None:
    extra = sorted(set(table) - allowed - {"kind"})
    if extra:
        raise ConfigError(f"destinations.{name}.{extra[0]}", f"unknown option(s) {extra}")


def _url(name: str, table: dict[str, Any], check: Callable[[str, str], str | None]) -> str:
    key = f"destinations.{name}.url"
    url = table.get("url")
    if not isinstance(url, str) or not url.strip():
        raise ConfigError(key, "is required (a URL, or ${VAR} naming the variable that holds it)")
    problem = check(url.strip(), key)
    if problem:
        raise ConfigError(key, problem.removeprefix(f"{key} "))
    return url.strip()


def _number(name: str, table: dict[str, Any], option: str, default: float) -> float:
    value = table.get(option, default)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise ConfigError(f"destinations.{name}.{option}", "must be a number of seconds ≥ 0")
    return float(value)


def _slack(name: str, table: dict[str, Any], settings: Settings) -> Destination:
    from .destinations.slack import SlackDestination

    _options(name, table, {"url", "mention", "min_interval"})
    url = _url(name, table, lambda u, key: webhook_problem(u, key, allow_http=settings.allow_http))
    mention = table.get("mention")
    interval = _number(name, table, "min_interval", settings.min_interval)
    return SlackDestination(name, url, min_interval=interval, mention=mention if isinstance(mention, str) else None)


def _teams(name: str, table: dict[str, Any], settings: Settings) -> Destination:
    from .destinations.teams import TeamsDestination, teams_url_problem

    _options(name, table, {"url", "mention", "min_interval"})
    url = _url(name, table, lambda u, key: teams_url_problem(u, allow_http=settings.allow_http))
    mention = table.get("mention")
    interval = _number(name, table, "min_interval", 0.3)
    return TeamsDestination(name, url, mention=mention if isinstance(mention, str) else None, min_interval=interval)


def _alertmanager(name: str, table: dict[str, Any], settings: Settings) -> Destination:
    from .destinations.alertmanager import AlertmanagerDestination, alertmanager_url_problem

    _options(name, table, {"urls", "url", "resolve_period", "resend_interval", "generator_url", "min_interval"})
    urls = table.get("urls", [table["url"]] if "url" in table else None)
    key = f"destinations.{name}.urls"
    if not isinstance(urls, list) or not urls or not all(isinstance(u, str) for u in urls):
        raise ConfigError(key, "is required: a list of every Alertmanager replica's base URL")
    for i, url in enumerate(urls):
        problem = alertmanager_url_problem(url)
        if problem:
            raise ConfigError(f"{key}[{i}]", problem)
    generator = table.get("generator_url")
    return AlertmanagerDestination(
        name,
        [u.strip() for u in urls],
        resolve_period=_number(name, table, "resolve_period", 300.0),
        resend_interval=_number(name, table, "resend_interval", 60.0),
        generator_url=generator if isinstance(generator, str) else None,
        min_interval=_number(name, table, "min_interval", 0.0),
    )


KINDS: dict[str, Callable[[str, dict[str, Any], Settings], Destination]] = {
    "slack": _slack,
    "teams": _teams,
    "alertmanager": _alertmanager,
}


class _Locator:
    """Finds the line of a key in the file's text, so a problem names file, line and key."""

    def __init__(self, filename: str, text: str) -> None:
        self.filename = filename
        self.lines = text.splitlines()

    def say(self, key: str, message: str) -> str:
        line = self._line(key)
        return f"ALERTS_CONFIG {self.filename}{f' line {line}' if line else ''}: {key}: {message}"

    def _line(self, key: str) -> int | None:
        parts = re.split(r"\.|\[(\d+)\]", key)
        parts = [p for p in parts if p]
        if parts and parts[0] == "destinations" and len(parts) >= 2:
            header = re.compile(rf"^\s*\[\s*destinations\.\"?{re.escape(parts[1])}\"?\s*\]")
            start = next((i for i, line in enumerate(self.lines) if header.match(line)), None)
            if start is None:
                return None
            if len(parts) >= 3:
                option = re.compile(rf"^\s*{re.escape(parts[2])}\s*=")
                for i in range(start + 1, len(self.lines)):
                    if self.lines[i].lstrip().startswith("["):
                        break
                    if option.match(self.lines[i]):
                        return i + 1
            return start + 1
        if parts and parts[0] == "routes":
            index = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
            headers = [i for i, line in enumerate(self.lines) if re.match(r"^\s*\[\[\s*routes\s*\]\]", line)]
            return headers[index] + 1 if index < len(headers) else None
        return None


def _reason(exc: BaseException) -> str:
    if isinstance(exc, tomllib.TOMLDecodeError):
        return f"invalid TOML: {exc}"
    if isinstance(exc, UnicodeDecodeError):
        return "not UTF-8 text"
    if isinstance(exc, FileNotFoundError):
        return "no such file"
    return type(exc).__name__
