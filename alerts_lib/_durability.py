"""The worker's side of the spool: the spool's errors become one log line and delivery goes on from memory.

:mod:`._spool` is the storage; this wrapper is what the worker calls, on its own thread only (never a caller's),
so a slow disk, a corrupt file or a read-only directory costs the caller nothing and the worker no exception.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Sequence
from typing import Any

logger = logging.getLogger("alerts_lib")


class Durability:
    def __init__(self, directory: str, max_items: int) -> None:
        self.directory = directory
        self._spool: Any = None
        try:
            from ._spool import Spool

            self._spool = Spool(directory, max_items=max_items)
        except Exception as exc:
            self._disable(exc, "cannot be used")

    @property
    def active(self) -> bool:
        return self._spool is not None

    def _disable(self, exc: BaseException, what: str) -> None:
        # SpoolError's message already says which spool and why; anything else is named by its type.
        if exc.__class__.__name__ == "SpoolError":
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

    def add(self, entries: Sequence[tuple[str, dict[str, Any], float, str]]) -> list[int | None]:
        if self._spool is None or not entries:
            return [None] * len(entries)
        try:
            ids: list[int | None] = list(self._spool.add(entries))
            return ids
        except Exception as exc:
            self._disable(exc, "failed while writing")
            return [None] * len(entries)

    def remove(self, ids: Iterable[int]) -> None:
        if self._spool is not None:
            try:
                self._spool.remove(list(ids))
            except Exception as exc:
                self._disable(exc, "failed while removing delivered alerts")

    def claim(self, lanes: Collection[str]) -> list[Any]:
        if self._spool is None:
            return []
        try:
            return list(self._spool.claim(lanes))
        except Exception as exc:
            self._disable(exc, "failed while looking for spooled alerts")
            return []

    def take_evicted(self) -> int:
        if self._spool is None:
            return 0
        try:
            return int(self._spool.take_evicted())
        except Exception:
            return 0

    def pending(self) -> dict[str, int]:
        if self._spool is None:
            return {}
        try:
            return dict(self._spool.pending())
        except Exception as exc:
            self._disable(exc, "could not be read")
            return {}

    def release(self) -> None:
        if self._spool is not None:
            try:
                self._spool.release()
            except Exception:
                logger.debug("alerts_lib: error releasing the spool", exc_info=True)

    def close(self) -> None:
        spool, self._spool = self._spool, None
        if spool is not None:
            try:
                spool.release()
                spool.close()
            except Exception:
                logger.debug("alerts_lib: error closing the spool", exc_info=True)
