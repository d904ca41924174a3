"""The model service without HTTP: loads variants from the registry, hot-swaps them, predicts, alerts.

Endpoints stay thin wrappers around this, and tests can drive it directly.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from alerts_lib import formatters

from .alerting import send_alert
from .health import HealthTracker
from .model import LinearModel, MissingFeaturesError
from .registry import READY, ModelRegistry, NotFoundError, RegistryError, check_alias
from .routing import Route, Router, VariantUnavailableError
from .settings import ServiceSettings
from .variants import Variant, VariantStore

log = logging.getLogger(__name__)


class ReloadError(Exception):
    """A hot-swap that did not happen; the alias keeps serving what it served before."""

    def __init__(self, message: str, *, cause: BaseException | None = None, not_found: bool = False) -> None:
        super().__init__(message)
        self.cause = cause
        self.not_found = not_found

    @property
    def for_alert(self) -> object:
        """What the alert shows: the underlying error (with its type) when there is one."""
        return self.cause if self.cause is not None else str(self)


class PredictionFailedError(Exception):
    """An unexpected failure while predicting; already logged and alerted."""


@dataclass(frozen=True)
class Prediction:
    value: float
    route: Route


class ModelService:
    def __init__(
        self,
        settings: ServiceSettings,
        registry: ModelRegistry,
        *,
        notify: Callable[[Any], object] = send_alert,
        router: Router | None = None,
    ) -> None:
        self.settings = settings
        self.registry = registry
        self.notify = notify
        self.store = VariantStore()
        self.router = router or Router(
            default_alias=settings.default_alias,
            mode=settings.alias_selection_mode,
            canary_alias=settings.canary_target,
            canary_percent=settings.canary_percent,
        )
        self.health = HealthTracker(self.store, settings.model_aliases, notify, settings.model_name)

    @property
    def model_name(self) -> str:
        return self.settings.model_name

    # -- loading -----------------------------------------------------------------------------------
    def load_all(self) -> None:
        """Load every configured alias; one that fails is recorded (degraded) and the others still serve."""
        for alias in self.settings.model_aliases:
            try:
                self._swap_in(alias, None)
            except ReloadError as exc:
                log.warning("%s@%s not loaded: %s", self.model_name, alias, exc)
                self.store.record_error(alias, str(exc))
        self.health.evaluate()

    def is_known_alias(self, alias: str) -> bool:
        """Configured aliases, plus any alias the registry defines (a DAG may publish a new one)."""
        if alias in self.settings.model_aliases or alias in self.store.snapshot():
            return True
        try:
            check_alias(alias)
            return alias in self.registry.aliases(self.model_name)
        except RegistryError:
            return False

    def reload(self, alias: str, version: int | None = None) -> tuple[Variant, Variant | None]:
        """Hot-swap ``alias`` to ``version`` (default: where the registry alias points) and alert either way.

        Returns (new, previous). On failure raises :class:`ReloadError` and the old model keeps serving.
        """
        try:
            new, previous = self._swap_in(alias, version)
        except ReloadError as exc:
            log.warning("hot-swap of %s@%s failed: %s", self.model_name, alias, exc)
            self.store.record_error(alias, str(exc))
            self.notify(formatters.hotswap_failed(self.model_name, alias, exc.for_alert, version=version))
            self.health.evaluate()
            raise
        log.info("%s@%s hot-swapped to v%s", self.model_name, alias, new.version)
        swapped = formatters.hotswap_succeeded(
            self.model_name,
            alias,
            new.version,
            run_id=new.run_id,
            previous_version=previous.version if previous else None,
        )
        self.notify(swapped)  # a state change: exempt from storm control, so v2 → v1 → v2 is three messages
        self.health.evaluate()
        return new, previous

    def _swap_in(self, alias: str, version: int | None) -> tuple[Variant, Variant | None]:
        """Build the new model completely (I/O, validation) before the atomic swap."""
        name = self.model_name
        try:
            if version is None:
                version = self.registry.get_alias(name, alias)
                if version is None:
                    raise ReloadError(f"registry has no alias {name}@{alias}", not_found=True)
            meta = self.registry.get_version(name, version)
            if meta.status != READY:
                raise ReloadError(f"{name} v{version} is {meta.status}, not READY")
            model = LinearModel.from_weights(self.registry.load_weights(name, version))
        except NotFoundError as exc:
            raise ReloadError(str(exc), cause=exc, not_found=True) from None
        except RegistryError as exc:  # missing or corrupt files: the message says which, in words
            raise ReloadError(str(exc), cause=exc) from None
        except ReloadError:
            raise
        except Exception as exc:  # a corrupt file, or any failure of a pluggable registry
            raise ReloadError(f"{type(exc).__name__}: {exc}", cause=exc) from None
        variant = Variant.create(alias, version, model, meta.run_id)
        return variant, self.store.swap(variant)

    # -- serving -----------------------------------------------------------------------------------
    def predict(self, features: Mapping[str, float], forced: str | None = None, request_id: str = "") -> Prediction:
        """Route on one snapshot and predict with the routed model (which a swap cannot change under us).

        Client errors (:class:`VariantUnavailableError`, :class:`MissingFeaturesError`) propagate as they are;
        anything else is logged, alerted (storm-controlled by alerts_lib) and raised as
        :class:`PredictionFailedError`.
        """
        route: Route | None = None
        try:
            route = self.router.choose(self.store.snapshot(), forced)
            return Prediction(route.variant.model.predict(features), route)
        except (VariantUnavailableError, MissingFeaturesError):
            raise
        except Exception as exc:
            variant = route.variant if route else None
            where = f"{self.model_name}@{variant.alias}" if variant else self.model_name
            log.exception("prediction failed on %s (request_id=%s)", where, request_id)
            self.notify(
                formatters.prediction_error(
                    exc,
                    model=self.model_name,
                    alias=variant.alias if variant else None,
                    version=variant.version if variant else None,
                    request_id=request_id or None,
                )
            )
            raise PredictionFailedError(type(exc).__name__) from exc
