"""What one poll of one target found: observations by key, and which alert names it covered in full."""

from __future__ import annotations

from dataclasses import dataclass, field

from ._state import Key, Observation


@dataclass
class PollResult:
    """Filled in as a poll goes, so a poll cut off by its deadline still reports what it had seen."""

    observations: dict[Key, Observation] = field(default_factory=dict)
    covered: set[str] = field(default_factory=set)

    def add(self, key: Key, observation: Observation) -> None:
        self.observations[key] = observation

    def cover(self, name: str) -> None:
        """Every failing ``name`` key was reported: the ones not reported are healthy."""
        self.covered.add(name)

    def merge(self, other: PollResult) -> None:
        self.observations.update(other.observations)
        self.covered |= other.covered
