"""The service's settings, read from the environment (same names as the team's Helm values).

``SLACK_WEBHOOK_URL`` and ``ALERTS_ENV`` are read by alerts_lib itself, not here.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from .registry import check_alias, check_name


class ServiceSettings(BaseSettings):
    """Invalid values fail at startup with pydantic's message: a misconfigured service must not serve."""

    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore")

    model_name: str = Field(default="my_model", validation_alias="MODEL_NAME")
    model_aliases: Annotated[tuple[str, ...], NoDecode] = Field(default=("A", "B"), validation_alias="MODEL_ALIASES")
    default_alias: str = Field(default="A", validation_alias="DEFAULT_ALIAS")
    alias_selection_mode: Literal["blue_green", "canary"] = Field(
        default="blue_green", validation_alias="ALIAS_SELECTION_MODE"
    )
    canary_percent: float = Field(default=10.0, ge=0, le=100, validation_alias="CANARY_PERCENT")
    canary_alias: str | None = Field(default=None, validation_alias="CANARY_ALIAS")
    fastapi_token: SecretStr | None = Field(default=None, validation_alias="FASTAPI_TOKEN")
    allow_unauthenticated_reload: bool = Field(default=False, validation_alias="ALLOW_UNAUTHENTICATED_RELOAD")
    model_registry_dir: str = Field(default="./model_registry", validation_alias="MODEL_REGISTRY_DIR")
    max_body_bytes: int = Field(default=1_048_576, ge=1024, validation_alias="MAX_BODY_BYTES")

    @field_validator("model_name")
    @classmethod
    def _safe_model_name(cls, value: str) -> str:
        return check_name(value)

    @field_validator("model_aliases", mode="before")
    @classmethod
    def _split_aliases(cls, value: object) -> object:
        return tuple(a.strip() for a in value.split(",") if a.strip()) if isinstance(value, str) else value

    @field_validator("model_aliases")
    @classmethod
    def _safe_aliases(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        return tuple(dict.fromkeys(check_alias(a) for a in value))

    @field_validator("default_alias")
    @classmethod
    def _safe_default(cls, value: str) -> str:
        return check_alias(value)

    @field_validator("canary_alias")
    @classmethod
    def _safe_canary(cls, value: str | None) -> str | None:
        return check_alias(value) if value else None

    @field_validator("fastapi_token")
    @classmethod
    def _empty_token_is_unset(cls, value: SecretStr | None) -> SecretStr | None:
        return value if value is not None and value.get_secret_value().strip() else None

    @model_validator(mode="after")
    def _aliases_include_default_and_canary(self) -> ServiceSettings:
        extra = [a for a in (self.default_alias, self.canary_alias) if a and a not in self.model_aliases]
        self.model_aliases = (*self.model_aliases, *extra)
        return self

    @property
    def canary_target(self) -> str | None:
        """The alias getting ``CANARY_PERCENT`` % in canary mode: ``CANARY_ALIAS``, else the next one."""
        if self.canary_alias:
            return self.canary_alias
        return next((a for a in self.model_aliases if a != self.default_alias), None)

    @property
    def reload_auth(self) -> Literal["token", "open", "disabled"]:
        """How ``/variant/{alias}/reload`` is protected: never open unless explicitly allowed."""
        if self.fastapi_token is not None:
            return "token"
        return "open" if self.allow_unauthenticated_reload else "disabled"
