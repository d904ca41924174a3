"""``alerts_lib.airflow``: the Airflow callbacks' original import path, a re-export of
:mod:`alerts_lib.integrations.airflow` (same names, same lazy ``AlertNotifier``; Airflow is not imported)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .integrations.airflow import *  # noqa: F403
from .integrations.airflow import __all__, __getattr__  # noqa: F401 - the same public names, AlertNotifier lazily

if TYPE_CHECKING:
    from .integrations.airflow.notifier import AlertNotifier as AlertNotifier
