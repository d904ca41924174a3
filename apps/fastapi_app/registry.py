"""The model registry: versions of a model and alias → version pointers, shared by the service and Airflow.

Stdlib only on purpose: the Airflow DAGs import this module from their own virtualenv, where the service's
dependencies (fastapi, pydantic) are not installed.

On-disk layout of :class:`FileRegistry` (``MODEL_REGISTRY_DIR``)::

    <root>/<model>/versions/<n>/weights.json   the linear model's weights
    <root>/<model>/versions/<n>/meta.json      name, version, status, run_id, created_at
    <root>/<model>/aliases.json                {"A": 3, "B": 4}

Every file is written atomically (temporary file + ``os.replace``), so a reader never sees half a file, and a
version number is claimed with ``mkdir`` so two concurrent ``register`` calls never get the same number.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import math
import os
import re
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Protocol

try:  # POSIX advisory locks serialise alias updates across processes (service + Airflow workers).
    import fcntl
except ImportError:  # pragma: no cover - Windows: atomic replace still keeps files whole.
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "FAILED",
    "PENDING",
    "READY",
    "STATUSES",
    "CorruptEntryError",
    "FileRegistry",
    "InvalidNameError",
    "ModelRegistry",
    "ModelVersion",
    "NotFoundError",
    "RegistryError",
    "registry_from_env",
    "validate_weights",
]

PENDING, READY, FAILED = "PENDING", "READY", "FAILED"
STATUSES = (PENDING, READY, FAILED)
DEFAULT_ROOT = "./model_registry"

# Names become directory names and alias keys: keep them boring so they can never escape the root
# (no "/", no "..") and never carry Slack control characters (<, >, &).
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
_ALIAS_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
MAX_FEATURES = 10_000


class RegistryError(KeyError):
    """Anything the registry cannot do. A ``KeyError`` so ``except KeyError`` callers keep working."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it readable.
        return str(self.args[0]) if self.args else self.__class__.__name__


class NotFoundError(RegistryError):
    """The model, version or alias does not exist."""


class CorruptEntryError(RegistryError):
    """A registry file exists but cannot be read or does not hold what it should."""


class InvalidNameError(RegistryError, ValueError):
    """A model name or alias that is not ``[A-Za-z0-9][A-Za-z0-9_.-]*``."""


@dataclass(frozen=True)
class ModelVersion:
    """One registered version; ``status`` is READY once its weights were validated."""

    name: str
    version: int
    status: str  # "PENDING" | "READY" | "FAILED"
    run_id: str | None
    created_at: str  # ISO-8601 UTC


class ModelRegistry(Protocol):
    """What the service and the DAGs need from a registry; :class:`FileRegistry` is the default."""

    def register(self, name: str, weights: dict[str, Any], *, run_id: str | None = None) -> ModelVersion: ...

    def get_version(self, name: str, version: int) -> ModelVersion: ...

    def load_weights(self, name: str, version: int) -> dict[str, Any]: ...

    def latest_version(self, name: str) -> ModelVersion | None: ...

    def set_alias(self, name: str, alias: str, version: int) -> None: ...

    def get_alias(self, name: str, alias: str) -> int | None: ...

    def aliases(self, name: str) -> dict[str, int]: ...


def validate_weights(weights: object) -> dict[str, Any]:
    """Check a linear model's weights (``features``, ``coef``, ``intercept``); returns a clean copy.

    Raises :class:`CorruptEntryError` saying what is wrong, so a bad file is reported in words.
    """
    if not isinstance(weights, dict):
        raise CorruptEntryError(f"weights must be a JSON object, not {type(weights).__name__}")
    features, coef, intercept = weights.get("features"), weights.get("coef"), weights.get("intercept")
    if not isinstance(features, list) or not features or not all(isinstance(f, str) and f for f in features):
        raise CorruptEntryError("weights.features must be a non-empty list of names")
    if len(features) > MAX_FEATURES or len(set(features)) != len(features):
        raise CorruptEntryError("weights.features must be unique and at most 10000")
    if not isinstance(coef, list) or len(coef) != len(features):
        raise CorruptEntryError(f"weights.coef must be a list of {len(features)} numbers (one per feature)")
    numbers = [*coef, intercept]
    if not all(isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x) for x in numbers):
        raise CorruptEntryError("weights.coef and weights.intercept must be finite numbers")
    return {"features": list(features), "coef": [float(c) for c in coef], "intercept": float(numbers[-1])}


def check_name(value: object, what: str = "model name") -> str:
    """``value`` if it is a safe model name; raises :class:`InvalidNameError` otherwise."""
    return _check(value, _NAME_RE, what, 128)


def check_alias(value: object) -> str:
    """``value`` if it is a safe alias (``A``, ``B``, ``canary-2``); raises :class:`InvalidNameError`."""
    return _check(value, _ALIAS_RE, "alias", 64)


def _check(value: object, pattern: re.Pattern[str], what: str, max_len: int) -> str:
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise InvalidNameError(f"invalid {what}: use up to {max_len} letters, digits, '_', '.', '-'")
    return value


def _now() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


class FileRegistry:
    """A directory-backed registry (``MODEL_REGISTRY_DIR``), safe for concurrent readers and writers."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"FileRegistry({str(self.root)!r})"

    # -- versions ------------------------------------------------------------------------------
    def register(self, name: str, weights: dict[str, Any], *, run_id: str | None = None) -> ModelVersion:
        """Store ``weights`` as the next version; valid weights make it READY in the same call.

        Invalid ones (wrong shapes, non-finite numbers) are still stored, as FAILED, so a sensor sees why.
        """
        versions = self._model_dir(name) / "versions"
        try:
            body = json.dumps(weights, allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise CorruptEntryError(f"weights are not JSON-serialisable: {exc}") from None
        versions.mkdir(parents=True, exist_ok=True)
        version, vdir = self._claim_version_dir(versions)
        _atomic_write(vdir / "weights.json", body)
        meta = ModelVersion(name, version, PENDING, None if run_id is None else str(run_id), _now())
        self._write_meta(vdir, meta)
        return self.validate(name, version)

    def validate(self, name: str, version: int) -> ModelVersion:
        """Re-read a version's weights from disk and mark it READY or FAILED accordingly."""
        meta = self.get_version(name, version)
        try:
            self._read_weights(name, version)
            status = READY
        except RegistryError:
            status = FAILED
        updated = replace(meta, status=status)
        self._write_meta(self._version_dir(name, version), updated)
        return updated

    def mark_failed(self, name: str, version: int) -> ModelVersion:
        """Retire a version (e.g. it failed an offline evaluation); the service refuses to load it."""
        updated = replace(self.get_version(name, version), status=FAILED)
        self._write_meta(self._version_dir(name, version), updated)
        return updated

    def get_version(self, name: str, version: int) -> ModelVersion:
        path = self._version_dir(name, version) / "meta.json"
        if not path.exists():
            raise NotFoundError(f"{name} v{version} does not exist")
        data = _read_json(path, f"{name} v{version} metadata")
        try:
            meta = ModelVersion(
                name=str(data["name"]),
                version=int(data["version"]),
                status=str(data["status"]),
                run_id=None if data.get("run_id") is None else str(data["run_id"]),
                created_at=str(data["created_at"]),
            )
        except (KeyError, TypeError, ValueError):
            raise CorruptEntryError(f"{name} v{version} metadata is incomplete") from None
        if meta.status not in STATUSES or meta.version != version:
            raise CorruptEntryError(f"{name} v{version} metadata is inconsistent")
        return meta

    def load_weights(self, name: str, version: int) -> dict[str, Any]:
        """The validated weights of a version; raises :class:`RegistryError` if missing or corrupt."""
        return self._read_weights(name, version)

    def latest_version(self, name: str) -> ModelVersion | None:
        """The highest-numbered version, whatever its status; None when the model has none."""
        numbers = self._version_numbers(name)
        return self.get_version(name, numbers[-1]) if numbers else None

    def list_versions(self, name: str) -> list[int]:
        return self._version_numbers(name)

    # -- aliases ---------------------------------------------------------------------------------
    def set_alias(self, name: str, alias: str, version: int) -> None:
        """Point ``alias`` at an existing ``version`` (read-modify-write under a file lock)."""
        check_alias(alias)
        self.get_version(name, version)  # refuse to point at nothing
        path = self._model_dir(name) / "aliases.json"
        with self._locked(name):
            current = self._read_aliases(name)
            current[alias] = int(version)
            _atomic_write(path, json.dumps(current, sort_keys=True))

    def get_alias(self, name: str, alias: str) -> int | None:
        return self.aliases(name).get(check_alias(alias))

    def aliases(self, name: str) -> dict[str, int]:
        return self._read_aliases(name)

    # -- internals -------------------------------------------------------------------------------
    def _model_dir(self, name: str) -> Path:
        return self.root / check_name(name)

    def _version_dir(self, name: str, version: int) -> Path:
        if isinstance(version, bool) or not isinstance(version, int) or version < 1:
            raise NotFoundError(f"{name} v{version!r} does not exist")
        return self._model_dir(name) / "versions" / str(version)

    def _version_numbers(self, name: str) -> list[int]:
        versions = self._model_dir(name) / "versions"
        try:
            entries = os.listdir(versions)
        except FileNotFoundError:
            return []
        return sorted(int(e) for e in entries if e.isdigit() and (versions / e / "meta.json").exists())

    def _claim_version_dir(self, versions: Path) -> tuple[int, Path]:
        existing = [int(e) for e in os.listdir(versions) if e.isdigit()]
        candidate = max(existing, default=0) + 1
        while True:
            vdir = versions / str(candidate)
            try:
                vdir.mkdir()
            except FileExistsError:  # another writer claimed it first
                candidate += 1
                continue
            return candidate, vdir

    def _write_meta(self, vdir: Path, meta: ModelVersion) -> None:
        _atomic_write(vdir / "meta.json", json.dumps(asdict(meta), sort_keys=True))

    def _read_weights(self, name: str, version: int) -> dict[str, Any]:
        label = f"{name} v{version} weights"
        data = _read_json(self._version_dir(name, version) / "weights.json", label)
        try:
            return validate_weights(data)
        except CorruptEntryError as exc:
            raise CorruptEntryError(f"{label}: {exc}") from None

    def _read_aliases(self, name: str) -> dict[str, int]:
        path = self._model_dir(name) / "aliases.json"
        if not path.exists():
            return {}
        data = _read_json(path, f"{name} aliases")
        if not isinstance(data, dict):
            raise CorruptEntryError(f"{name} aliases file is not a JSON object")
        out: dict[str, int] = {}
        for alias, version in data.items():
            if isinstance(alias, str) and _ALIAS_RE.fullmatch(alias) and type(version) is int:
                out[alias] = version
        return out

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        lock_path = self._model_dir(name) / ".lock"
        lock_path.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_path, "a+") as handle:
            if fcntl is not None:
                fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                if fcntl is not None:
                    fcntl.flock(handle, fcntl.LOCK_UN)


def _read_json(path: Path, label: str) -> Any:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise NotFoundError(f"{label}: not found") from None
    except OSError as exc:
        raise CorruptEntryError(f"{label}: unreadable ({exc.strerror or type(exc).__name__})") from None
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, ValueError):
        raise CorruptEntryError(f"{label}: not valid JSON") from None


def _atomic_write(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def registry_from_env() -> ModelRegistry:
    """The registry the environment points at: ``MODEL_REGISTRY_DIR`` (default ``./model_registry``)."""
    return FileRegistry(os.environ.get("MODEL_REGISTRY_DIR") or DEFAULT_ROOT)
