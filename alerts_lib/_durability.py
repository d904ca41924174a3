"""The worker's side of the spool: the spool's errors become one log line and delivery goes on from memory.

:mod:`._spool` is the storage; this wrapper is what the worker calls, on its own thread only (never a caller's),
so a slow disk, a corrupt file or a read-only directory costs the caller nothing and the worker no exception.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Iterable, Sequence
from typing import Any, TypeVar

from ._spool import Spool, Spooled, SpoolError

logger = logging.getLogger("alerts_lib")

T = TypeVar("T")


class Durability:
    def __init__(self, directory: str, max_items: int) -> None:
        self.directory = directory
        self._spool: Spool | None = None
        try:
            self._spool = Spool(directory, max_items=max_items)
        except Exception as exc:
            self._disable(exc, "cannot be used")

    @property
    def active(self) -> bool:
        return self._spool is not None

    def _disable(self, exc: BaseException, what: str) -> None:
        # SpoolError's message already says which spool and why; anything else is named by its type.
        if isinstance(exc, SpoolError):
            why = str(exc).removeprefix("alerts_lib ")
        else:
            why = f"the spool in {self.directory} {what} ({type(exc).__name__})"
        logger.error("alerts_lib: %s; alerts are kept in memory only (ALERTS_SPOOL_DIR)", why)
        spool, self._spool = self._spool, None
        if spool is not None:
            try:
                spool.close()
            except Exception:
                logger.debug("alerts_lib: error closing the spool", exc_info=True)

    def _call(self, what: str, default: T, operation: Callable[[Spool], T]) -> T:
        """``operation`` on the spool; any failure disables the spool (one log line) and gives ``default``."""
        spool = self._spool
        if spool is None:
            return default
        try:
            return operation(spool)
        except Exception as exc:
            self._disable(exc, what)
            return default

    def add(self, entries: Sequence[tuple[str, dict[str, Any], float, str]]) -> list[int | None]:
        if not entries:
            return []
        none: list[int | None] = [None] * len(entries)
        return self._call("failed while writing", none, lambda spool: list[int | None](spool.add(entries)))

    def remove(self, ids: Iterable[int]) -> None:
        self._call("failed while removing delivered alerts", None, lambda spool: spool.remove(list(ids)))

    def claim(self, lanes: Collection[str]) -> list[Spooled]:
        return self._call("failed while looking for spooled alerts", [], lambda spool: spool.claim(lanes))

    def take_evicted(self) -> int:
        return self._call("could not be read", 0, lambda spool: spool.take_evicted())

    def pending(self) -> dict[str, int]:
        return self._call("could not be read", {}, lambda spool: spool.pending())

    def release(self) -> None:
        self._call("failed while handing its alerts over", None, lambda spool: spool.release())

    def close(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            try:
                spool.release()
                spool.close()
            except Exception:
                logger.debug("alerts_lib: error closing the spool", exc_info=True)
