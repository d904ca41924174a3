"""The shared "already alerted" record: one alert per failure, whichever process or path sees it first.

Airflow may report one failure several times: a heartbeat timeout calls the task callback twice, from two
DAG-processor processes; with the listener on, the wired callback and the listener hook see the same failure.
Each path *claims* the failure's key before it sends; only the first claim wins.

A claim is a file created with ``O_CREAT | O_EXCL``, which is atomic across processes on one host (and on
NFS v3+). Files live in ``$ALERTS_SPOOL_DIR/once/`` when the spool is set, else in a per-user directory under
the temp dir; they are pruned after :data:`MAX_AGE`. Without a directory shared by every Airflow component
(Celery workers, Kubernetes pods) two hosts can each win a claim: see the README.

Fails open: when the record cannot be written, the claim succeeds (a duplicate beats a lost alert).
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import threading
import time
from pathlib import Path

from ..._client import get_settings
from ..._text import to_text

logger = logging.getLogger("alerts_lib.airflow")

MAX_AGE = 2 * 86_400.0  # seconds a claim is kept: far longer than any re-report of the same failure
PRUNE_EVERY = 3600.0  # seconds between prunes, per process

Key = tuple[object, ...]

_lock = threading.Lock()
_last_prune: dict[Path, float] = {}
_warned: set[str] = set()


def directory() -> Path:
    """Where claims live: the spool's ``once/`` when ``ALERTS_SPOOL_DIR`` is set, else a per-user temp dir."""
    spool = _spool_dir()
    if spool:
        return Path(spool) / "once"
    uid = os.getuid() if hasattr(os, "getuid") else os.getpid()
    return Path(tempfile.gettempdir()) / f"alerts_lib-once-{uid}"


def key_name(key: Key) -> str:
    """The file name for ``key``: a hash, so run ids with any characters (and destinations) stay out of paths."""
    raw = "\x1f".join("" if part is None else to_text(part) for part in key)
    return hashlib.sha256(raw.encode("utf-8", "replace")).hexdigest()[:40]


def claim(key: Key, *, label: str = "") -> bool:
    """True when this caller is the first to claim ``key`` (send the alert), False when someone already did.

    ``label`` (no secrets) is written into the file to say what it is about. Never raises.
    """
    try:
        folder = directory()
        _ensure(folder)
        _maybe_prune(folder)
        path = folder / key_name(key)
        try:
            fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        except FileExistsError:
            return False
        try:
            os.write(fd, f"{time.time():.3f} pid={os.getpid()} {label}\n".encode("utf-8", "replace"))
        finally:
            os.close(fd)
        return True
    except Exception as exc:
        _warn_once(f"alerts_lib: the once-record is unusable ({type(exc).__name__}); duplicates are possible")
        return True


def release(key: Key) -> None:
    """Forget a claim (its alert could not be queued at all), so another path may still send it."""
    try:
        (directory() / key_name(key)).unlink(missing_ok=True)
    except Exception as exc:
        logger.debug("alerts_lib: could not release a claim (%s)", type(exc).__name__)


def _spool_dir() -> str | None:
    try:
        value = get_settings().spool_dir
    except Exception:
        value = None
    return value.strip() if isinstance(value, str) and value.strip() else None


def _ensure(folder: Path) -> None:
    """Create ``folder``; refuse one in a shared temp dir that another user owns or can write to (they could
    pre-claim failures and silence alerts)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _spool_dir() is None and hasattr(os, "getuid"):
        info = folder.lstat()
        if info.st_uid != os.getuid() or info.st_mode & 0o022 or folder.is_symlink():
            raise PermissionError("the once-record directory is not private to this user")


def _maybe_prune(folder: Path) -> None:
    now = time.monotonic()
    with _lock:
        last = _last_prune.get(folder)
        if last is not None and now - last < PRUNE_EVERY:
            return
        _last_prune[folder] = now
    prune(folder)


def prune(folder: Path | None = None, max_age: float = MAX_AGE) -> int:
    """Delete claims older than ``max_age`` seconds; returns how many. Never raises."""
    removed = 0
    cutoff = time.time() - max_age
    try:
        entries = list(os.scandir(folder or directory()))
    except OSError:
        return 0
    for entry in entries:
        try:
            if entry.is_file(follow_symlinks=False) and entry.stat(follow_symlinks=False).st_mtime < cutoff:
                os.unlink(entry.path)
                removed += 1
        except OSError:
            continue  # pruned by another process meanwhile
    return removed


def _warn_once(message: str) -> None:
    with _lock:
        if message in _warned:
            return
        _warned.add(message)
    logger.warning(message)
