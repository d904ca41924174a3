"""The served model: a small linear model whose predictions are really computed from registry weights."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .registry import validate_weights


class MissingFeaturesError(ValueError):
    """The request lacks features the model needs: the client's fault, answered with 422."""

    def __init__(self, missing: list[str]) -> None:
        super().__init__(f"missing features: {', '.join(missing[:20])}")
        self.missing = missing


class NonFiniteOutputError(ArithmeticError):
    """The model overflowed (inf/nan): an unexpected failure, answered with 500 and alerted."""


@dataclass(frozen=True)
class LinearModel:
    """``intercept + sum(coef_i * x_i)``. Immutable, so a prediction never sees a half-swapped model."""

    features: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float

    @classmethod
    def from_weights(cls, weights: Mapping[str, Any]) -> LinearModel:
        clean = validate_weights(dict(weights))
        return cls(tuple(clean["features"]), tuple(clean["coef"]), clean["intercept"])

    def predict(self, inputs: Mapping[str, float]) -> float:
        """Extra inputs are ignored (variants may use different feature sets); missing ones are an error."""
        missing = [name for name in self.features if name not in inputs]
        if missing:
            raise MissingFeaturesError(missing)
        try:
            terms = (c * inputs[n] for n, c in zip(self.features, self.coef, strict=True))
            value = math.fsum([self.intercept, *terms])
        except (OverflowError, ValueError):  # fsum refuses inf - inf and intermediate overflow
            value = math.nan
        if not math.isfinite(value):
            raise NonFiniteOutputError("model output is not a finite number (overflow)")
        return value
