"""The durable spool (``ALERTS_SPOOL_DIR``): alerts stay on disk until their destination accepts or refuses them.

**Why SQLite in WAL mode.** One file gives atomic multi-row transactions, so the worker writes a whole batch with
one commit (never an fsync per alert), and several processes (the service, Airflow tasks, ``drain``) share it
safely; ``busy_timeout`` makes them wait for each other instead of failing with "database is locked".

**Why ``synchronous=NORMAL``.** In WAL mode a commit is then a ``write()`` into the WAL, fsynced only at checkpoints.
A committed row is in the kernel's page cache at once, so it survives SIGKILL, an OOM kill and a container restart,
which is what the issue asks of "anything queued for about a second". It does not survive a power loss or kernel
crash before the next checkpoint (the database stays intact; the newest commits are lost). ``FULL`` would fsync
every commit (``bench/spool_cost.py`` shows the price); a host that loses power also loses every in-memory queue on
it, and the alerts about that come from elsewhere.

**Why POSIX locks, not leases.** Every row has an ``owner``: the id of the live Spool holding it. Each instance
holds ``fcntl.lockf`` on ``owners/<owner>.lock`` for its lifetime; the kernel drops that lock the moment the process
dies, however it dies, so a claimer tells a dead owner from a live one at once by trying the lock: nothing to
renew, nothing to wait out. ``claim`` moves the rows of no owner or a dead one inside one ``BEGIN IMMEDIATE``
transaction, so two claimers never get the same row. POSIX locks belong to the process: re-locking one's own file
succeeds and closing any descriptor of it drops the lock, so owners created in this process are never probed.

**At least once across a crash.** A process killed after a successful post but before ``remove`` commits leaves
the row, and the next claimer posts it again. The window is the end of one HTTP answer plus one commit; a
duplicate is better than a loss.

**No secret on disk.** A row's lane is ``lane_key(kind, url)``, a fingerprint; renders never carry the URL. A
drainer claims only the lanes it can resolve from its own configuration, the others wait for one that can.

**Fork.** A SQLite connection must not cross ``fork()``: the child inherits the parent's in-process lock
bookkeeping, and its writes can land in a WAL file the parent deletes when it closes (they are lost). So every
open Spool closes its connection just before a fork (the parent reopens it on next use) and refuses use in the
child: a forked child makes its own ``Spool``, with its own owner id; the parent's rows stay the parent's while
the parent lives.

The directory is 0700 and every file 0600 whatever the umask (SQLite gives ``-wal``/``-shm`` the database's mode),
so every process sharing one spool must run as the same user, on one host (POSIX locks do not span hosts).
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import re
import socket
import sqlite3
import stat
import threading
import uuid
import weakref
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

logger = logging.getLogger("alerts_lib")

DB_NAME = "spool.sqlite3"
BUSY_TIMEOUT = 10.0  # seconds a process waits for another's transaction (they last milliseconds)
SCHEMA_VERSION = 1
_LANE = re.compile(r"[0-9a-f]{16,64}")  # a hex fingerprint; a URL is refused
_SCHEMA = """
CREATE TABLE IF NOT EXISTS alerts (
    id INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused: a late remove() of an evicted id cannot hit a newer row
    lane TEXT NOT NULL, render TEXT NOT NULL, created REAL NOT NULL, origin TEXT NOT NULL, owner TEXT);
CREATE INDEX IF NOT EXISTS alerts_owner ON alerts (owner);
"""
_IN = "IN (SELECT value FROM json_each(?))"  # a JSON list as one parameter: no SQL built from data
_WHERE = f"lane {_IN} AND (owner IS NULL OR owner {_IN})"
_CLAIMABLE = f"SELECT id, lane, render, created, origin FROM alerts WHERE {_WHERE} ORDER BY id"  # noqa: S608
_CLAIM = f"UPDATE alerts SET owner = ? WHERE {_WHERE}"  # noqa: S608
_encode = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False).encode  # one encoder, not one per row
_OURS: dict[str, int] = {}  # owner id -> pid of the process that made it; a fork child inherits it, hence the pid
_OPEN: weakref.WeakSet[Spool] = weakref.WeakSet()
_FORKING: list[Spool] = []


def lane_key(kind: str, url: str) -> str:
    """A stable fingerprint of a destination lane; stored instead of the URL, which it cannot be turned back into."""
    return hashlib.sha256(f"alerts_lib lane\0{kind}\0{url}".encode()).hexdigest()[:32]


def local_origin() -> str:
    """``host:pid``, where an alert is raised (``⏱ delayed: raised 12 min ago on <host>``)."""
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class Spooled:
    id: int
    lane: str
    render: dict[str, Any]
    created: float  # wall-clock time the alert was raised
    origin: str


class SpoolError(Exception):
    """The spool cannot be used; the message says why in one line (a path at most, never a secret)."""


class Spool:
    """One process's handle on a spool directory; see the module docstring. Thread-safe; one per process is usual."""

    def __init__(self, directory: str | os.PathLike[str], *, max_items: int = 10_000) -> None:
        self.directory = Path(directory)
        self.max_items = max_items
        self.owner = f"{re.sub(r'[^A-Za-z0-9.-]', '_', socket.gethostname())[:40]}-{os.getpid()}-{uuid.uuid4().hex}"
        self._path = self.directory / DB_NAME
        self._owners = self.directory / "owners"
        self._pid = os.getpid()
        self._mutex = threading.Lock()
        self._db: sqlite3.Connection | None = None
        self._lock_fd = -1
        self._closed = False
        self._evicted = 0
        try:
            if self.directory.exists() and not self.directory.is_dir():
                raise SpoolError(f"alerts_lib spool {self.directory} is unusable: not a directory")
            _private(self.directory, directory=True)
            _private(self._owners, directory=True)
            _private(self._path, directory=False)
            os.close(os.open(self._path, os.O_RDWR | os.O_NOFOLLOW))  # else SQLite would open it read-only, silently
            self._db = self._connect()
            self._lock_fd = self._take_liveness_lock()
        except (OSError, sqlite3.Error, SpoolError) as exc:
            self.close()
            raise SpoolError(self._problem("is unusable", exc)) from exc
        _OURS[self.owner] = self._pid
        _OPEN.add(self)

    def add(self, entries: Sequence[tuple[str, dict[str, Any], float, str]]) -> list[int]:
        """Store ``(lane, render, created, origin)`` rows as ours, in one transaction; the oldest beyond the cap go."""
        if any(not _LANE.fullmatch(lane) for lane, _, _, _ in entries):
            raise ValueError("a spool lane is a lane_key(), never a URL")
        rows = [(lane, _encode(render), when, where, self.owner) for lane, render, when, where in entries]
        if not rows:
            return []
        with self._use() as db:
            with _transaction(db):  # we hold the write lock: AUTOINCREMENT hands out consecutive ids
                db.executemany("INSERT INTO alerts (lane, render, created, origin, owner) VALUES (?, ?, ?, ?, ?)", rows)
                last = db.execute("SELECT seq FROM sqlite_sequence WHERE name = 'alerts'").fetchone()
                excess = db.execute("SELECT COUNT(*) FROM alerts").fetchone()[0] - self.max_items
                if excess > 0:
                    db.execute("DELETE FROM alerts WHERE id IN (SELECT id FROM alerts ORDER BY id LIMIT ?)", (excess,))
            self._evicted += max(0, excess)
        return list(range(last[0] - len(rows) + 1, last[0] + 1))

    def remove(self, ids: Iterable[int]) -> None:
        """Forget rows that were delivered or refused for good."""
        listed = json.dumps(list(ids))
        if listed != "[]":
            with self._use() as db, _transaction(db):
                db.execute(f"DELETE FROM alerts WHERE id {_IN}", (listed,))  # noqa: S608

    def claim(self, lanes: Collection[str]) -> list[Spooled]:
        """Make ours, oldest first, the rows of ``lanes`` that no live instance holds; other lanes stay untouched."""
        if not lanes:
            return []
        known = json.dumps(sorted(set(lanes)))
        with self._use() as db:
            owners = {o for (o,) in db.execute("SELECT DISTINCT owner FROM alerts WHERE owner IS NOT NULL")}
            owners |= {p.name.removesuffix(".lock") for p in self._owners.glob("*.lock")}  # also sweeps stale files
            dead = json.dumps(sorted(o for o in owners if not self._alive(o)))
            with _transaction(db):
                rows = db.execute(_CLAIMABLE, (known, dead)).fetchall()
                db.execute(_CLAIM, (self.owner, known, dead))
            return [Spooled(i, lane, json.loads(render), created, origin) for i, lane, render, created, origin in rows]

    def release(self) -> None:
        """Clean shutdown: our remaining rows become unowned, claimable at once by any other process."""
        with self._use() as db, _transaction(db):
            db.execute("UPDATE alerts SET owner = NULL WHERE owner = ?", (self.owner,))

    def take_evicted(self) -> int:
        """Rows this instance dropped to honour ``max_items`` since the last call."""
        with self._mutex:
            count, self._evicted = self._evicted, 0
        return count

    def pending(self) -> dict[str, int]:
        """Rows per lane, whoever holds them."""
        with self._use() as db:
            return dict(db.execute("SELECT lane, COUNT(*) FROM alerts GROUP BY lane").fetchall())

    def close(self) -> None:
        """Close the database and end our liveness: our rows become claimable by others (like a death, but clean)."""
        with self._mutex:
            if self._closed:
                return
            self._closed = True
            _OPEN.discard(self)
            ours = self._pid == os.getpid()  # a fork child's copy must not touch the parent's lock file
            if self._db is not None and ours:
                with suppress(sqlite3.Error):
                    self._db.close()
            self._db = None
            if self._lock_fd >= 0:
                if ours:
                    (self._owners / f"{self.owner}.lock").unlink(missing_ok=True)
                os.close(self._lock_fd)  # in a child this drops nothing: POSIX locks are not inherited
                self._lock_fd = -1
            if ours:
                _OURS.pop(self.owner, None)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, timeout=BUSY_TIMEOUT, isolation_level=None, check_same_thread=False)
        try:
            mode = db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if mode != "wal":
                raise SpoolError(f"alerts_lib spool {self.directory} is unusable: WAL mode unavailable ({mode})")
            db.execute("PRAGMA synchronous=NORMAL")
            version = db.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise SpoolError(f"alerts_lib spool {self.directory} is unusable: made by a newer alerts_lib")
            if version < SCHEMA_VERSION:
                db.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;")
            for suffix in ("-wal", "-shm"):  # SQLite creates them with the database's mode; older ones may be loose
                with suppress(FileNotFoundError):
                    _tighten(Path(f"{self._path}{suffix}"))
        except BaseException:
            db.close()
            raise
        return db

    def _take_liveness_lock(self) -> int:
        # Locked under a temporary name, then renamed: a claimer never sees our file unlocked and takes us for dead.
        final, temporary = self._owners / f"{self.owner}.lock", self._owners / f".{self.owner}.new"
        fd = os.open(temporary, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            os.fchmod(fd, 0o600)
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            os.rename(temporary, final)
        except BaseException:
            os.close(fd)
            temporary.unlink(missing_ok=True)
            raise
        return fd

    def _alive(self, owner: str) -> bool:
        """Whether ``owner``'s process lives; a dead owner's lock file is removed (while we hold its lock)."""
        if owner == self.owner or _OURS.get(owner) == os.getpid() or not re.fullmatch(r"[\w.-]+", owner):
            return True  # ours (never probed, see the docstring), or not a name we make: left alone
        path = self._owners / f"{owner}.lock"
        try:
            fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW)
        except FileNotFoundError:
            return False
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True  # held by a live process
        else:
            path.unlink(missing_ok=True)
            return False
        finally:
            os.close(fd)

    @contextmanager
    def _use(self) -> Iterator[sqlite3.Connection]:
        with self._mutex:
            if self._closed or self._pid != os.getpid():
                why = "closed" if self._closed else f"of process {self._pid}; a forked child makes its own Spool"
                raise SpoolError(f"alerts_lib spool {self.directory}: this Spool is {why}")
            try:
                if self._db is None:
                    self._db = self._connect()  # after a fork in this (parent) process
                yield self._db
            except BaseException as exc:
                if self._db is not None and self._db.in_transaction:
                    with suppress(sqlite3.Error):
                        self._db.rollback()
                if isinstance(exc, (OSError, sqlite3.Error, ValueError)):
                    raise SpoolError(self._problem("failed", exc)) from exc
                raise

    def _problem(self, verb: str, exc: BaseException) -> str:
        if isinstance(exc, SpoolError):
            return str(exc)
        if isinstance(exc, OSError):
            what = f"{exc.strerror or type(exc).__name__}" + (f" ({exc.filename})" if exc.filename else "")
        else:
            what = str(exc) or type(exc).__name__  # SQLite's words: "file is not a database", "disk is full"
        return f"alerts_lib spool {self.directory} {verb}: {what}"


@contextmanager
def _transaction(db: sqlite3.Connection) -> Iterator[None]:
    db.execute("BEGIN IMMEDIATE")  # takes the write lock first: no deadlock between two upgrading readers
    yield
    db.execute("COMMIT")


def _private(path: Path, *, directory: bool) -> None:
    """Create ``path`` owner-only (0700 or 0600, whatever the umask), or strip group/other bits from an existing one
    (never adding any: a directory its owner made read-only stays read-only)."""
    try:
        if directory:
            path.mkdir(mode=0o700, parents=True)
        else:
            os.close(os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
        os.chmod(path, 0o700 if directory else 0o600)
    except FileExistsError:
        _tighten(path)


def _tighten(path: Path) -> None:
    status = path.stat()
    if not status.st_mode & 0o077:
        return
    if status.st_uid == os.geteuid():
        os.chmod(path, stat.S_IMODE(status.st_mode) & 0o700)
    else:
        logger.warning("alerts_lib spool: %s is open to group/others and not ours to tighten", path)


def _before_fork() -> None:
    _FORKING[:] = list(_OPEN)
    for spool in _FORKING:
        spool._mutex.acquire()  # waits for a transaction in flight on another thread
        if spool._db is not None:
            with suppress(sqlite3.Error):
                spool._db.close()
            spool._db = None


def _after_fork() -> None:
    for spool in _FORKING:
        spool._mutex.release()
    _FORKING.clear()


os.register_at_fork(before=_before_fork, after_in_parent=_after_fork, after_in_child=_after_fork)
