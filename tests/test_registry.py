"""The file registry the service and the Airflow DAGs share: versions, aliases, READY status, bad files."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from fastapi_app.registry import (
    FAILED,
    READY,
    CorruptEntryError,
    FileRegistry,
    InvalidNameError,
    NotFoundError,
    RegistryError,
    registry_from_env,
)
from fastapi_app.seed import seed_registry
from tests.support.paths import REPO_ROOT

WEIGHTS = {"features": ["x1", "x2"], "coef": [1.5, -2.0], "intercept": 0.25}


@pytest.fixture
def registry(tmp_path: Path) -> FileRegistry:
    return FileRegistry(tmp_path / "reg")


def test_register_numbers_versions_and_marks_valid_weights_ready(registry: FileRegistry) -> None:
    v1 = registry.register("m", WEIGHTS, run_id="run-1")
    v2 = registry.register("m", {**WEIGHTS, "intercept": 1.0})
    assert (v1.version, v1.status, v1.run_id) == (1, READY, "run-1")
    assert (v2.version, v2.status, v2.run_id) == (2, READY, None)
    assert registry.get_version("m", 1) == v1
    assert registry.latest_version("m") == v2
    assert registry.load_weights("m", 1) == WEIGHTS
    assert v1.created_at.endswith("+00:00")


def test_invalid_weights_are_stored_as_failed_so_a_sensor_sees_why(registry: FileRegistry) -> None:
    bad = registry.register("m", {"features": ["x1", "x2"], "coef": [1.0], "intercept": 0})
    assert bad.status == FAILED
    assert registry.get_version("m", bad.version).status == FAILED
    with pytest.raises(CorruptEntryError, match="one per feature"):
        registry.load_weights("m", bad.version)


def test_unserialisable_weights_are_refused(registry: FileRegistry) -> None:
    with pytest.raises(CorruptEntryError, match="JSON"):
        registry.register("m", {"features": ["x"], "coef": [float("nan")], "intercept": 0})
    with pytest.raises(CorruptEntryError):
        registry.register("m", {"features": ["x"], "coef": [object()], "intercept": 0})


def test_aliases_point_at_existing_versions_only(registry: FileRegistry) -> None:
    v = registry.register("m", WEIGHTS)
    assert registry.get_alias("m", "A") is None
    registry.set_alias("m", "A", v.version)
    registry.set_alias("m", "B", v.version)
    assert registry.aliases("m") == {"A": 1, "B": 1}
    with pytest.raises(NotFoundError):
        registry.set_alias("m", "A", 7)
    assert registry.get_alias("m", "A") == 1


def test_missing_things_raise_a_keyerror_like_registry_error(registry: FileRegistry) -> None:
    assert registry.latest_version("nothing") is None
    assert registry.aliases("nothing") == {}
    with pytest.raises(KeyError):  # callers may catch KeyError, as the contract says
        registry.get_version("nothing", 1)
    with pytest.raises(RegistryError) as info:
        registry.load_weights("nothing", 3)
    assert str(info.value) == "nothing v3 weights: not found"  # readable, not KeyError's quoted repr


@pytest.mark.parametrize("name", ["../etc", "a/b", "", ".hidden", "<!channel>", "x" * 200, None, 5])
def test_unsafe_model_names_are_refused(registry: FileRegistry, name: object) -> None:
    with pytest.raises(InvalidNameError):
        registry.register(name, WEIGHTS)  # type: ignore[arg-type]
    assert not any(registry.root.parent.glob("etc*"))


@pytest.mark.parametrize("alias", ["<!channel>", "a b", "", "@A", "x" * 65])
def test_unsafe_aliases_are_refused(registry: FileRegistry, alias: str) -> None:
    registry.register("m", WEIGHTS)
    with pytest.raises(InvalidNameError):
        registry.set_alias("m", alias, 1)


@pytest.mark.parametrize(
    ("content", "error"),
    [
        (b"{not json", "not valid JSON"),
        (b"\xff\xfe", "not valid JSON"),
        (b"[]", "JSON object"),
        (json.dumps({"features": ["x1"], "coef": ["1"], "intercept": 0}).encode(), "finite numbers"),
        (json.dumps({"features": [], "coef": [], "intercept": 0}).encode(), "non-empty"),
        (json.dumps({"features": ["a", "a"], "coef": [1, 2], "intercept": 0}).encode(), "unique"),
    ],
)
def test_corrupt_weights_files_are_reported_in_words(registry: FileRegistry, content: bytes, error: str) -> None:
    registry.register("m", WEIGHTS)
    (registry.root / "m" / "versions" / "1" / "weights.json").write_bytes(content)
    with pytest.raises(CorruptEntryError, match=error):
        registry.load_weights("m", 1)
    assert registry.validate("m", 1).status == FAILED


def test_corrupt_metadata_and_alias_files(registry: FileRegistry) -> None:
    registry.register("m", WEIGHTS)
    registry.set_alias("m", "A", 1)
    (registry.root / "m" / "versions" / "1" / "meta.json").write_text('{"name": "m"}')
    with pytest.raises(CorruptEntryError, match="incomplete"):
        registry.get_version("m", 1)
    (registry.root / "m" / "aliases.json").write_text("{truncated")
    with pytest.raises(CorruptEntryError):
        registry.aliases("m")


def test_alias_file_entries_that_are_not_safe_are_ignored(registry: FileRegistry) -> None:
    registry.register("m", WEIGHTS)
    (registry.root / "m" / "aliases.json").write_text(json.dumps({"A": 1, "<!channel>": 1, "B": "1", "C": True}))
    assert registry.aliases("m") == {"A": 1}


def test_mark_failed_retires_a_version(registry: FileRegistry) -> None:
    registry.register("m", WEIGHTS)
    assert registry.mark_failed("m", 1).status == FAILED
    assert registry.get_version("m", 1).status == FAILED


def test_concurrent_registers_get_distinct_versions_and_aliases_are_not_lost(registry: FileRegistry) -> None:
    results: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        v = registry.register("m", WEIGHTS, run_id=f"r{i}")
        registry.set_alias("m", f"alias{i}", v.version)
        with lock:
            results.append(v.version)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(12)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(1, 13))
    assert len(registry.aliases("m")) == 12  # read-modify-write under the lock: no update lost
    assert registry.list_versions("m") == list(range(1, 13))


def test_writes_are_atomic_no_temporary_files_left(registry: FileRegistry) -> None:
    registry.register("m", WEIGHTS)
    registry.set_alias("m", "A", 1)
    leftovers = [p.name for p in registry.root.rglob("*") if p.name.endswith(".tmp")]
    assert leftovers == []


def test_registry_from_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("MODEL_REGISTRY_DIR", str(tmp_path))
    reg = registry_from_env()
    assert isinstance(reg, FileRegistry) and reg.root == tmp_path
    monkeypatch.delenv("MODEL_REGISTRY_DIR")
    assert registry_from_env().root == Path("./model_registry")


def test_seed_registry_creates_ready_versions_for_a_and_b(tmp_path: Path) -> None:
    seeded = seed_registry(tmp_path, "my_model")
    reg = FileRegistry(tmp_path)
    assert reg.aliases("my_model") == {"A": seeded["A"].version, "B": seeded["B"].version}
    assert reg.load_weights("my_model", 1) != reg.load_weights("my_model", 2)
    assert all(v.status == READY for v in seeded.values())


def test_registry_imports_with_the_stdlib_only() -> None:
    """The Airflow virtualenv has no fastapi/pydantic: importing the registry must not need them."""
    code = (
        "import sys\n"
        "BLOCKED = {'fastapi', 'pydantic', 'pydantic_settings', 'starlette', 'httpx'}\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name.split('.')[0] in BLOCKED:\n"
        "            raise ImportError('blocked ' + name)\n"
        "sys.meta_path.insert(0, Block())\n"
        "from fastapi_app.registry import FileRegistry, ModelVersion, registry_from_env\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
