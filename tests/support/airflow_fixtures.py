"""pytest fixtures shared by the real-Airflow test modules (registered in tests/conftest.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.airflow_harness import prepare_venv


@pytest.fixture(scope="session")
def airflow_bin() -> Path:
    """The Airflow venv's bin/ (AIRFLOW_VERSION_PIN picks the version), created or refreshed once per run."""
    return prepare_venv()
