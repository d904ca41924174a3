"""pytest fixtures for the fastapi_app tests (imported by the test modules that use them)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from alerts_lib.testing import capture_alerts
from fastapi_app.main import create_app
from fastapi_app.registry import FileRegistry
from tests.support.service_helpers import SERVICE_ENV, make_settings, seeded

ClientFactory = Callable[..., contextlib.AbstractContextManager[TestClient]]


@pytest.fixture(autouse=True)
def _no_service_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's exported FASTAPI_TOKEN or MODEL_* must not change what a test sees."""
    for name in SERVICE_ENV:
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def registry(tmp_path: Path) -> FileRegistry:
    """A registry seeded like the demo: my_model v1 → @A, v2 → @B."""
    return seeded(tmp_path / "registry")


@pytest.fixture
def alerts() -> Iterator[Any]:
    """Every alert the service sends during the test (nothing reaches the network)."""
    with capture_alerts() as captured:
        yield captured


@pytest.fixture
def make_client(registry: FileRegistry) -> ClientFactory:
    """``with make_client(CANARY_PERCENT=..., ...) as client:`` runs the app's lifespan around the block."""

    @contextlib.contextmanager
    def factory(**env: Any) -> Iterator[TestClient]:
        app = create_app(make_settings(registry.root, **env), registry)
        with TestClient(app, raise_server_exceptions=False) as client:
            yield client

    return factory


@pytest.fixture
def client(make_client: ClientFactory, alerts: Any) -> Iterator[TestClient]:
    """The service with default settings (token set, blue/green on @A), alerts captured."""
    with make_client() as c:
        yield c
