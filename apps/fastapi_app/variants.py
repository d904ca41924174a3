"""The loaded variants, swapped atomically.

Readers take one immutable snapshot (a plain attribute read) and predict with it; a reload builds the new
model first, then replaces the snapshot under a lock. An in-flight prediction therefore finishes on the model
it started with, and never sees a half-loaded one.
"""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .model import LinearModel


@dataclass(frozen=True)
class Variant:
    """One alias serving one model version."""

    alias: str
    version: int
    model: LinearModel
    run_id: str | None
    loaded_at: str

    @classmethod
    def create(cls, alias: str, version: int, model: LinearModel, run_id: str | None) -> Variant:
        now = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        return cls(alias, version, model, run_id, now)

    def describe(self) -> dict[str, object]:
        return {
            "alias": self.alias,
            "version": self.version,
            "run_id": self.run_id,
            "loaded_at": self.loaded_at,
            "features": list(self.model.features),
        }


class VariantStore:
    """alias → :class:`Variant`, plus why an expected alias is not loaded."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._variants: Mapping[str, Variant] = MappingProxyType({})
        self._errors: Mapping[str, str] = MappingProxyType({})

    def snapshot(self) -> Mapping[str, Variant]:
        """The current variants; never changes after it is returned."""
        return self._variants

    def errors(self) -> Mapping[str, str]:
        """alias → why it could not be loaded (only for aliases that are not loaded)."""
        return self._errors

    def get(self, alias: str) -> Variant | None:
        return self._variants.get(alias)

    def swap(self, variant: Variant) -> Variant | None:
        """Serve ``variant`` for its alias from now on; returns the one it replaced."""
        with self._lock:
            previous = self._variants.get(variant.alias)
            self._variants = MappingProxyType({**self._variants, variant.alias: variant})
            self._errors = MappingProxyType({k: v for k, v in self._errors.items() if k != variant.alias})
            return previous

    def record_error(self, alias: str, reason: str) -> None:
        """Remember why ``alias`` failed to load, unless it serves (a failed reload keeps the old model)."""
        with self._lock:
            if alias not in self._variants:
                self._errors = MappingProxyType({**self._errors, alias: reason})
