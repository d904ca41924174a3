"""Which variant serves a prediction: blue/green (all to the default alias) or canary (a share to another)."""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal

from .variants import Variant

Reason = Literal["forced", "default", "canary", "fallback"]


class VariantUnavailableError(LookupError):
    """Nothing can serve the request: the forced alias is not loaded, or no variant is loaded at all."""


@dataclass(frozen=True)
class Route:
    variant: Variant
    reason: Reason


@dataclass
class Router:
    """``choose`` picks from one snapshot of the variants, so routing and prediction agree."""

    default_alias: str
    mode: Literal["blue_green", "canary"] = "blue_green"
    canary_alias: str | None = None
    canary_percent: float = 0.0
    rand: Callable[[], float] = random.random  # injectable for deterministic tests

    def choose(self, variants: Mapping[str, Variant], forced: str | None = None) -> Route:
        if forced is not None:
            variant = variants.get(forced)
            if variant is None:
                raise VariantUnavailableError("the requested variant is not loaded")
            return Route(variant, "forced")
        wanted, reason = self.default_alias, "default"
        if self.mode == "canary" and self.canary_alias and self.rand() * 100 < self.canary_percent:
            wanted, reason = self.canary_alias, "canary"
        if wanted in variants:
            return Route(variants[wanted], reason)  # type: ignore[arg-type]
        # Keep serving what loaded: the default first, then any variant (sorted, so it is predictable).
        for alias in (self.default_alias, *sorted(variants)):
            if alias in variants:
                return Route(variants[alias], "fallback")
        raise VariantUnavailableError("no model variant is loaded")
