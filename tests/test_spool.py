"""The durable spool (alerts_lib/_spool.py) between real processes: claims, deaths, permissions, secrets, failures.

Other processes are real ones (tests/support/spool_peer.py, or a forking script), with their own POSIX locks
and SQLite connections; nothing is mocked. The tests run as root in CI, so "read-only" is made real by running
the peer as nobody (uid 65534) against a directory it cannot write: permission bits do not stop root.
"""

from __future__ import annotations

import json
import logging
import os
import select
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from alerts_lib._spool import Spool, Spooled, SpoolError, lane_key
from tests.support.fake_slack import PATH, TOKEN

ROOT = Path(__file__).resolve().parents[1]
LANE = lane_key("slack", "https://hooks.slack.com/services/T1/B1/one")
OTHER = lane_key("slack", "https://hooks.slack.com/services/T2/B2/two")
NOBODY = 65534


class Peer:
    """A spool_peer process, driven one JSON command at a time."""

    def __init__(self, directory: Path, *args: str, **popen: Any) -> None:
        command = [sys.executable, "-m", "tests.support.spool_peer", str(directory), *args]
        self.proc = subprocess.Popen(
            command, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, **popen
        )
        self.hello = self.read()

    def read(self, timeout: float = 60.0) -> dict[str, Any]:
        assert self.proc.stdout is not None
        ready, _, _ = select.select([self.proc.stdout], [], [], timeout)
        line = self.proc.stdout.readline() if ready else ""
        assert line, f"the peer answered nothing (exit code {self.proc.poll()})"
        reply: dict[str, Any] = json.loads(line)
        return reply

    def __call__(self, op: str, **args: Any) -> dict[str, Any]:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"op": op, **args}) + "\n")
        self.proc.stdin.flush()
        reply = self.read()
        assert "error" not in reply, reply["error"]
        return reply

    def kill(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(10)
        for pipe in (self.proc.stdin, self.proc.stdout):
            if pipe is not None:
                pipe.close()


@pytest.fixture
def peers() -> Iterator[Any]:
    started: list[Peer] = []

    def start(directory: Path, *args: str, **popen: Any) -> Peer:
        started.append(Peer(directory, *args, **popen))
        return started[-1]

    yield start
    for peer in started:
        peer.stop()


@pytest.fixture
def spools() -> Iterator[Any]:
    opened: list[Spool] = []

    def open_spool(directory: Path, **kwargs: Any) -> Spool:
        opened.append(Spool(directory, **kwargs))
        return opened[-1]

    yield open_spool
    for spool in opened:
        spool.close()


def rows(lane: str, n: int, start: float = 1000.0) -> list[tuple[str, dict[str, Any], float, str]]:
    return [(lane, {"text": f"alert {i}"}, start + i, "host-a:1") for i in range(n)]


def test_round_trip_oldest_first(tmp_path: Path, spools: Any) -> None:
    a, b = spools(tmp_path), spools(tmp_path)
    ids = a.add(rows(LANE, 3))
    assert ids == sorted(ids)
    assert b.claim([LANE]) == []  # a is alive (same process: never probed)
    a.release()
    claimed = b.claim([LANE])
    assert [row.id for row in claimed] == ids
    assert claimed[0] == Spooled(ids[0], LANE, {"text": "alert 0"}, 1000.0, "host-a:1")
    assert a.claim([LANE]) == []  # b holds them now
    b.remove(ids[:2])
    assert b.pending() == {LANE: 1}
    b.release()
    assert [row.id for row in a.claim([LANE])] == ids[2:]


def test_cap_evicts_the_oldest_of_any_owner_and_counts_them(tmp_path: Path, spools: Any) -> None:
    a, b = spools(tmp_path, max_items=5), spools(tmp_path, max_items=5)
    old = a.add(rows(LANE, 3))
    new = b.add(rows(OTHER, 4))  # 7 rows > 5: a's two oldest go
    assert b.take_evicted() == 2
    assert b.take_evicted() == 0
    assert a.take_evicted() == 0
    assert b.pending() == {LANE: 1, OTHER: 4}
    a.remove(old[:2])  # already gone: a late remove is harmless
    a.close()
    b.release()
    assert [row.id for row in b.claim([LANE, OTHER])] == [old[2], *new]


def test_in_process_sibling_is_never_probed(tmp_path: Path, spools: Any, peers: Any) -> None:
    """Probing a live sibling's lock file from this process would succeed and, on close, drop its lock."""
    a, b = spools(tmp_path), spools(tmp_path)
    a.add(rows(LANE, 2))
    assert b.claim([LANE]) == []
    assert peers(tmp_path)("claim", lanes=[LANE]) == {"ids": []}  # a's lock still holds for other processes
    a.close()  # like a death: a's rows are claimable at once
    assert len(b.claim([LANE])) == 2


def test_sigkilled_process_rows_are_claimed_at_once(tmp_path: Path, spools: Any, peers: Any) -> None:
    holder = peers(tmp_path)
    ids = holder("add", lane=LANE, n=3)["ids"]
    mine = spools(tmp_path)
    assert mine.claim([LANE]) == []  # alive: not ours to take
    holder.kill()
    assert [row.id for row in mine.claim([LANE])] == ids  # no lease to wait out
    assert not (tmp_path / "owners" / f"{holder.hello['owner']}.lock").exists()  # dead owner's lock file cleaned


def test_live_process_rows_wait_for_release(tmp_path: Path, spools: Any, peers: Any) -> None:
    holder = peers(tmp_path)
    ids = holder("add", lane=LANE, n=2)["ids"]
    mine = spools(tmp_path)
    assert mine.claim([LANE]) == []
    assert mine.pending() == {LANE: 2}
    holder("release")
    assert [row.id for row in mine.claim([LANE])] == ids
    assert holder("claim", lanes=[LANE]) == {"ids": []}  # and now they are mine, while I live


def test_two_concurrent_claimers_get_each_row_exactly_once(tmp_path: Path, spools: Any, peers: Any) -> None:
    stop = tmp_path / "stop"
    drainers = [peers(tmp_path, "--claim-loop", LANE, "--stop", str(stop)) for _ in range(2)]
    producer = spools(tmp_path)
    added: list[int] = []
    for _ in range(40):
        added += producer.add(rows(LANE, 25))
        producer.release()  # unowned at once: both drainers race for them
        time.sleep(0.005)
    stop.touch()
    claimed = [drainer.read()["ids"] for drainer in drainers]
    every = claimed[0] + claimed[1]
    assert len(every) == len(set(every)), "a row was claimed twice"
    assert sorted(every) == added, "a row was lost"
    assert producer.pending() == {}
    print(f"claims split {len(claimed[0])} / {len(claimed[1])}")


def test_unknown_lanes_wait_for_a_drainer_that_knows_them(tmp_path: Path, spools: Any, peers: Any) -> None:
    holder = peers(tmp_path)
    known = holder("add", lane=LANE, n=1)["ids"]
    unknown = holder("add", lane=OTHER, n=2)["ids"]
    holder.kill()
    drainer = spools(tmp_path)
    assert [row.id for row in drainer.claim([LANE])] == known
    assert drainer.pending() == {LANE: 1, OTHER: 2}
    drainer.remove(known)
    assert drainer.claim([LANE]) == []
    assert drainer.pending() == {OTHER: 2}  # still there, for whoever knows that destination
    other_drainer = peers(tmp_path)
    assert other_drainer("claim", lanes=[OTHER, LANE])["ids"] == unknown


def modes(directory: Path) -> dict[str, int]:
    return {str(p.relative_to(directory)): stat.S_IMODE(p.stat().st_mode) for p in [directory, *directory.rglob("*")]}


def test_directory_0700_and_every_file_0600_whatever_the_umask(tmp_path: Path, peers: Any) -> None:
    directory = tmp_path / "spool"
    peer = peers(directory, preexec_fn=lambda: os.umask(0))  # the loosest umask: everything would be 0777/0666
    peer("add", lane=LANE, n=3)
    peer("claim", lanes=[LANE])
    seen = modes(directory)  # while the peer is open, so -wal and -shm exist
    assert {"spool.sqlite3-wal", "spool.sqlite3-shm", f"owners/{peer.hello['owner']}.lock"} <= set(seen)
    assert {name: mode for name, mode in seen.items() if (directory / name).is_dir()} == {".": 0o700, "owners": 0o700}
    assert {mode for name, mode in seen.items() if not (directory / name).is_dir()} == {0o600}


def test_an_existing_loose_directory_is_tightened_or_warned_about(
    tmp_path: Path, spools: Any, caplog: pytest.LogCaptureFixture
) -> None:
    ours = tmp_path / "ours"
    ours.mkdir(mode=0o755)
    os.chmod(ours, 0o755)
    spools(ours)
    assert stat.S_IMODE(ours.stat().st_mode) == 0o700
    if os.geteuid() != 0:
        return  # only root can hand the directory to someone else
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    os.chmod(theirs, 0o755)
    os.chown(theirs, NOBODY, NOBODY)
    with caplog.at_level(logging.WARNING, logger="alerts_lib"):
        spools(theirs)
    assert f"{theirs} is open to group/others and not ours to tighten" in caplog.text


def test_the_webhook_token_is_never_written(tmp_path: Path, spools: Any) -> None:
    url = f"https://hooks.slack.com{PATH}"
    lane = lane_key("slack", url)
    spool = spools(tmp_path)
    with pytest.raises(ValueError, match="never a URL") as refused:
        spool.add([(url, {"text": "x"}, 0.0, "h")])
    assert TOKEN not in str(refused.value)
    ids = spool.add([(lane, {"text": "deploy done", "blocks": []}, time.time(), "host") for _ in range(50)])
    spool.remove(ids[:10])
    spool.claim([lane])
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name.endswith("-wal") for p in files)
    for path in files:
        data = path.read_bytes()
        assert TOKEN.encode() not in data, f"the token is in {path}"
        assert PATH.encode() not in data and b"hooks.slack.com" not in data, f"the URL is in {path}"
    assert lane == lane_key("slack", url) and len(lane) == 32 and lane != lane_key("teams", url)


def test_a_corrupt_database_is_one_clear_error(tmp_path: Path) -> None:
    (tmp_path / "spool.sqlite3").write_bytes(os.urandom(8192))
    with pytest.raises(SpoolError) as error:
        Spool(tmp_path)
    assert str(error.value) == f"alerts_lib spool {tmp_path} is unusable: file is not a database"


def test_a_file_where_the_directory_should_be(tmp_path: Path) -> None:
    (tmp_path / "spool").write_text("")
    with pytest.raises(SpoolError, match=r"spool/? is unusable: not a directory"):
        Spool(tmp_path / "spool")


def test_a_read_only_directory_is_one_clear_error(peers: Any) -> None:
    """In directories the peer owns but may not write: a fresh one, and an existing spool made read-only. As root
    (CI), the peer runs as nobody: permission bits do not stop root, but they stop nobody as they would stop you."""
    base = Path(tempfile.mkdtemp(prefix="spool-ro-"))  # not under tmp_path: pytest's root is 0700, closed to nobody
    root = os.geteuid() == 0
    user = ["--as-user", str(NOBODY)] if root else []
    env = {k: v for k, v in os.environ.items() if not k.startswith("COVERAGE")}  # nobody cannot write .coverage
    try:
        os.chmod(base, 0o711)
        fresh, existing = base / "fresh", base / "existing"
        fresh.mkdir(mode=0o500)
        existing.mkdir(mode=0o700)
        if root:
            os.chown(fresh, NOBODY, NOBODY)
            os.chown(existing, NOBODY, NOBODY)
        peer = peers(existing, *user, env=env)  # a working spool, made by the same user
        peer("add", lane=LANE, n=1)
        peer("close")
        for path in [existing, *existing.rglob("*")]:
            os.chmod(path, 0o500 if path.is_dir() else 0o400)
        for directory in (fresh, existing):
            error = peers(directory, *user, env=env).hello["error"]
            assert error.startswith(f"alerts_lib spool {directory} is unusable: Permission denied ("), error
    finally:
        for path in [base, *base.rglob("*")]:
            os.chmod(path, 0o700)
        shutil.rmtree(base)


def test_a_full_disk_fails_add_with_one_clear_error(tmp_path: Path) -> None:
    """RLIMIT_FSIZE makes the kernel refuse the WAL's growth (EFBIG), like a full disk, even for root."""
    script = f"""
        import resource, signal, time
        from alerts_lib._spool import Spool, SpoolError
        spool = Spool({str(tmp_path)!r})
        spool.add([({LANE!r}, {{"text": "small"}}, time.time(), "h")])
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (256 * 1024, resource.RLIM_INFINITY))
        try:
            spool.add([({LANE!r}, {{"text": "x" * 1000}}, time.time(), "h")] * 2000)
        except SpoolError as exc:
            print(exc)
    """
    out = subprocess.run([sys.executable, "-c", textwrap.dedent(script)], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.startswith(f"alerts_lib spool {tmp_path} failed: "), out.stdout
    assert len(out.stdout.splitlines()) == 1
    survivor = Spool(tmp_path)
    assert survivor.pending() == {LANE: 1}  # the failed batch rolled back; the spool is intact
    survivor.close()


FORKING = """
import json, os, sys, time
from alerts_lib._spool import Spool, Spooled, SpoolError, lane_key
directory, lane = sys.argv[1], sys.argv[2]
def add(spool, n, who):
    return spool.add([(lane, {"who": who}, time.time(), who)] * n)
def report(**facts):
    print(json.dumps(facts), flush=True)
parent = Spool(directory)
ids = add(parent, 3, "parent")
ready_r, ready_w = os.pipe()
go_r, go_w = os.pipe()
if os.fork() == 0:
    try:
        add(parent, 1, "child")
        inherited = "usable"
    except SpoolError as exc:
        inherited = str(exc)
    child = Spool(directory)
    before = [row.id for row in child.claim([lane])]
    os.write(ready_w, b"x")
    os.read(go_r, 1)  # the parent has closed its spool
    after = [row.id for row in child.claim([lane])]
    added = add(child, 5, "child")  # written after the parent's close: must not be lost
    parent.close()  # the inherited copy: must not remove the parent's files
    report(inherited=inherited, before=before, after=after, added=added, owner=child.owner)
    os._exit(0)  # dies holding its rows
os.read(ready_r, 1)
ids += add(parent, 1, "parent")  # the parent's spool works again after the fork
parent.close()
os.write(go_w, b"x")
os.wait()
report(ids=ids)
"""


def test_after_fork_the_child_has_its_own_spool_and_the_parents_rows_stay_the_parents(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", FORKING, str(tmp_path), LANE], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    child, parent = (json.loads(line) for line in out.stdout.splitlines())
    assert "a forked child makes its own Spool" in child["inherited"]
    assert child["before"] == []  # the parent lived: its rows stayed its own
    assert child["after"] == parent["ids"]  # closed: all four, the one added after the fork included
    survivor = Spool(tmp_path)
    assert [row.id for row in survivor.claim([LANE])] == parent["ids"] + child["added"]
    assert not (tmp_path / "owners" / f"{child['owner']}.lock").exists()
    survivor.close()
