"""Configuration from the environment, in one pydantic-settings object.

Loading never raises: an invalid value is reported in one log line and replaced by its default, because a
typo in ``ALERTS_DEADLINE`` must not take down the service or DAG that imports us.
"""

from __future__ import annotations

import ipaddress
import logging
import os
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from ._redact import mask_url

logger = logging.getLogger("alerts_lib")


class Settings(BaseSettings):
    """Every knob, with the environment variable that sets it (``SLACK_WEBHOOK_URL``, ``ALERTS_*``)."""

    model_config = SettingsConfigDict(env_prefix="ALERTS_", extra="ignore", populate_by_name=True)

    # Before webhook_url: its validator reads this one.
    allow_http: bool = Field(
        default=False, description="Accept http:// webhooks on any host (a local inbox such as http://inbox:8025)."
    )
    webhook_url: SecretStr | None = Field(
        default=None,
        validation_alias=AliasChoices("SLACK_WEBHOOK_URL"),
        description="Slack incoming-webhook URL (a secret). Unset: alerts are only logged.",
    )
    env: str = Field(default="dev", max_length=40, description="Environment label shown on every alert.")
    connect_timeout: float = Field(default=3.0, gt=0, le=60, description="Seconds to open a connection.")
    read_timeout: float = Field(default=5.0, gt=0, le=120, description="Seconds between bytes of the answer.")
    deadline: float = Field(default=10.0, gt=0, le=300, description="Hard total seconds for one attempt.")
    backoff_base: float = Field(default=1.0, ge=0, le=60, description="First retry delay; doubles each retry.")
    backoff_max: float = Field(default=30.0, ge=0, le=600, description="Longest delay between retries.")
    max_retry_after: float = Field(default=300.0, ge=0, le=3600, description="Longest Retry-After honoured.")
    queue_size: int = Field(default=1000, ge=1, le=1_000_000, description="Alerts waiting; past it, drop and count.")
    dedup_window: float = Field(
        default=60.0, ge=0, le=86_400, description="Seconds identical alerts are merged; 0 off."
    )
    min_interval: float = Field(default=1.0, ge=0, le=60, description="Seconds between posts to one webhook.")
    shutdown_timeout: float = Field(default=5.0, ge=0, le=120, description="Seconds to flush at interpreter exit.")
    give_up_after: float = Field(
        default=3600.0, gt=0, le=7 * 86_400, description="Seconds a transient failure is retried, from when raised."
    )
    config: str | None = Field(default=None, description="TOML file of destinations and routes (ALERTS_CONFIG).")
    spool_dir: str | None = Field(default=None, description="Directory of the durable spool; unset: memory only.")
    spool_max: int = Field(default=10_000, ge=1, le=10_000_000, description="Alerts kept in the spool at most.")

    @field_validator("webhook_url", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return value

    @field_validator("webhook_url")
    @classmethod
    def _check_webhook(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is not None:
            problem = webhook_problem(value.get_secret_value(), allow_http=bool(info.data.get("allow_http")))
            if problem:
                # The message names the masked URL only: pydantic puts the input in errors, we drop it (below).
                raise ValueError(problem)
        return value

    @property
    def webhook(self) -> str | None:
        """The webhook URL in clear, for the transport only."""
        return self.webhook_url.get_secret_value() if self.webhook_url else None

    def describe(self) -> dict[str, str]:
        """Every setting as text, the webhook masked: what ``python -m alerts_lib check`` prints."""
        out = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            out[name] = mask_url(self.webhook) if name == "webhook_url" and self.webhook else str(value)
        return out


HTTPS_RULE = (
    "https:// is required; plain http:// only for a local inbox on 127.0.0.0/8, ::1 or localhost, "
    "or, with ALERTS_ALLOW_HTTP=true, on any host but Slack's (e.g. http://inbox:8025 in docker compose)"
)


def webhook_problem(url: str, name: str = "SLACK_WEBHOOK_URL", *, allow_http: bool | None = None) -> str | None:
    """Why ``url`` cannot be a webhook URL, in words naming ``name`` but not the secret; None when usable.

    The webhook's path is its credential, so it must travel over TLS: http:// is refused except on a loopback
    host, or anywhere when ``allow_http`` (``ALERTS_ALLOW_HTTP`` when None) opts in for a local inbox reached
    by a service name. Slack itself is https only, whatever the opt-in.
    """
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018  (raises ValueError for a non-numeric port)
    except ValueError:
        return f"{name} is not a valid URL"
    if parts.scheme not in ("http", "https"):
        return f"{name} must start with https:// (it looks like https://hooks.slack.com/services/T…/B…/…)"
    if not parts.hostname:
        return f"{name} has no host name"
    problem = plain_http_problem(parts.scheme, parts.hostname, name, allow_http=allow_http)
    if problem:
        return problem
    if parts.hostname == "hooks.slack.com" and len([p for p in parts.path.split("/") if p]) < 4:
        return f"{name} is incomplete: a Slack webhook path is /services/T…/B…/<token>"
    return None


def plain_http_problem(scheme: str, host: str, name: str, *, allow_http: bool | None = None) -> str | None:
    """The one rule for URLs whose path or query is a credential (Slack, Teams): TLS, except on a loopback host or
    with the ``allow_http`` opt-in (``ALERTS_ALLOW_HTTP`` when None); Slack's own hosts are https only, always."""
    if scheme != "http" or is_loopback(host):
        return None
    if allow_http is None:
        allow_http = os.environ.get("ALERTS_ALLOW_HTTP", "").strip().lower() in ("1", "true", "yes", "on")
    slack = host == "slack.com" or host.endswith(".slack.com")
    if slack or not allow_http:
        return f"{name} uses http:// on {host}: {HTTPS_RULE}"
    return None


# Settings that existed once, and what replaced them: said once in the log instead of silently ignored.
RETIRED = {
    "max_retries": "transient failures are now retried until the alert is ALERTS_GIVE_UP_AFTER seconds old",
}


def is_loopback(host: str) -> bool:
    """127.0.0.0/8, ::1, ``localhost`` and ``*.localhost`` (RFC 6761): traffic that never leaves the machine."""
    host = host.lower().rstrip(".")
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def load_settings(**overrides: Any) -> Settings:
    """Settings from the environment plus ``overrides``; invalid values are logged and replaced by defaults."""
    for name, why in RETIRED.items():
        if name in overrides or _env_name(name) in os.environ:
            logger.warning("alerts_lib: %s is no longer used: %s", _env_name(name), why)
            overrides.pop(name, None)
    unknown = sorted(k for k in overrides if k not in Settings.model_fields)
    if unknown:
        logger.warning("alerts_lib: ignoring unknown settings %s", unknown)
    overrides = {k: v for k, v in overrides.items() if k in Settings.model_fields}
    overrides = {k: v for k, v in overrides.items() if v is not None or k == "webhook_url"}
    for _ in range(len(Settings.model_fields) + 1):
        try:
            return Settings(**overrides)
        except ValidationError as exc:
            for error in exc.errors(include_input=False, include_url=False):
                name = str(error["loc"][0]) if error["loc"] else ""
                field = _field_for(name)
                if field is None:
                    continue
                default = Settings.model_fields[field].default
                logger.error(
                    "alerts_lib: invalid setting %s (%s); using %s",
                    _env_name(field),
                    error["msg"],
                    "no webhook: alerts are only logged" if field == "webhook_url" else f"the default {default!r}",
                )
                overrides[field] = default
    return Settings.model_construct()  # unreachable in practice: every field now has its default


def _field_for(loc: str) -> str | None:
    if loc in Settings.model_fields:
        return loc
    if loc == "SLACK_WEBHOOK_URL":
        return "webhook_url"
    lowered = loc.lower().removeprefix("alerts_")
    return lowered if lowered in Settings.model_fields else None


def _env_name(field: str) -> str:
    return "SLACK_WEBHOOK_URL" if field == "webhook_url" else f"ALERTS_{field.upper()}"
