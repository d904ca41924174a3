"""Seed a registry with two real versions behind aliases A and B (for the demo and tests)."""

from __future__ import annotations

import os
from collections.abc import Sequence

from .registry import FileRegistry, ModelVersion

FEATURES = ["x1", "x2", "x3"]


def demo_weights(index: int) -> dict[str, object]:
    """Distinct, deterministic weights per variant so A and B give different predictions."""
    return {
        "features": FEATURES,
        "coef": [0.5 + 0.1 * index, -1.0 + 0.2 * index, 2.0],
        "intercept": 1.0 + index,
    }


def seed_registry(
    root: str | os.PathLike[str],
    model_name: str = "my_model",
    aliases: Sequence[str] = ("A", "B"),
    *,
    run_id_prefix: str = "seed",
) -> dict[str, ModelVersion]:
    """Register one READY version per alias and point the alias at it; returns alias → version."""
    registry = FileRegistry(root)
    out: dict[str, ModelVersion] = {}
    for index, alias in enumerate(aliases):
        version = registry.register(model_name, demo_weights(index), run_id=f"{run_id_prefix}-{alias}")
        registry.set_alias(model_name, alias, version.version)
        out[alias] = version
    return out
