"""model_pipeline: train a small linear model, register it, wait until it is READY, hot-swap the service.

Steps, each reported to Slack through alerts_lib:

1. ``train``: least-squares fit of a linear model on synthetic data (pure Python), gated on held-out R².
2. ``register``: store it as a new version in the file registry (``MODEL_REGISTRY_DIR``) →
   ``✅ [Airflow] model registered: my_model v12 → my_model@A``.
3. ``wait_ready``: a sensor polling the version's status until READY; FAILED or a timeout →
   ``❌ [Airflow] READY check failed: my_model v12``.
4. ``hotswap``: ``POST {FASTAPI_RELOAD_URL}/variant/{alias}/reload`` with ``Bearer FASTAPI_TOKEN``, then the
   registry alias moves to the new version (the service itself alerts ``🔁 … hot-swapped``).

Any task failure also alerts through ``on_failure_callback=alert_slack``. Nothing here touches the network
or the registry at import time; settings are read when tasks run: ``MODEL_NAME``, ``DEFAULT_ALIAS``,
``MODEL_REGISTRY_DIR``, ``FASTAPI_RELOAD_URL``, ``FASTAPI_TOKEN``, ``SLACK_WEBHOOK_URL``.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from alerts_lib import Alert, flush, formatters, send_slack_alert
from alerts_lib.airflow import DEFAULT_TIMEOUT, alert_slack, slack_webhook

try:  # Airflow 3
    from airflow.sdk import dag, task
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
except ImportError:  # Airflow 2
    from airflow.decorators import dag, task
    from airflow.exceptions import AirflowFailException, AirflowSkipException

log = logging.getLogger(__name__)

FEATURES = ["x1", "x2", "x3"]  # what the service's /predict takes (see fastapi_app.seed)
TRUE_COEF = [0.8, -1.5, 2.0]
TRUE_INTERCEPT = 1.25
MIN_R2 = 0.9  # quality gate: a model worse than this is not registered
RELOAD_TIMEOUT = (3.0, 30.0)  # connect, read (s)


def fit_linear(rows: list[list[float]], targets: list[float]) -> tuple[list[float], float]:
    """Ordinary least squares (normal equations, Gauss-Jordan elimination): ``(coef, intercept)``."""
    design = [[1.0, *row] for row in rows]
    n = len(design[0])
    # Augmented matrix [XᵀX | Xᵀy].
    matrix = [
        [sum(r[i] * r[j] for r in design) for j in range(n)]
        + [sum(r[i] * y for r, y in zip(design, targets, strict=True))]
        for i in range(n)
    ]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(matrix[r][col]))
        if abs(matrix[pivot][col]) < 1e-12:
            raise ValueError("training data is degenerate: features are collinear")
        matrix[col], matrix[pivot] = matrix[pivot], matrix[col]
        head = matrix[col][col]
        matrix[col] = [v / head for v in matrix[col]]
        for r in range(n):
            if r != col and matrix[r][col]:
                factor = matrix[r][col]
                matrix[r] = [a - factor * b for a, b in zip(matrix[r], matrix[col], strict=True)]
    solution = [matrix[i][n] for i in range(n)]
    return solution[1:], solution[0]


def predict(coef: list[float], intercept: float, row: list[float]) -> float:
    """What the service computes: ``intercept + Σ coef_i · x_i``."""
    return intercept + sum(c * x for c, x in zip(coef, row, strict=True))


def r_squared(rows: list[list[float]], targets: list[float], coef: list[float], intercept: float) -> float:
    predictions = [predict(coef, intercept, row) for row in rows]
    mean = sum(targets) / len(targets)
    residual = sum((y - p) ** 2 for y, p in zip(targets, predictions, strict=True))
    total = sum((y - mean) ** 2 for y in targets) or 1.0
    return 1.0 - residual / total


def synthetic_data(seed: int, samples: int) -> tuple[list[list[float]], list[float]]:
    """A noisy linear relation, different per run (the seed), so each run trains a genuinely new model."""
    rng = random.Random(seed)
    rows = [[rng.uniform(-5, 5) for _ in FEATURES] for _ in range(samples)]
    targets = [predict(TRUE_COEF, TRUE_INTERCEPT, row) + rng.gauss(0, 0.3) for row in rows]
    return rows, targets


def train_model(seed: int, samples: int = 400) -> dict[str, Any]:
    """Weights as the registry stores them, plus held-out R²; raises when the model fails the gate."""
    rows, targets = synthetic_data(seed, samples)
    split = int(samples * 0.8)
    coef, intercept = fit_linear(rows[:split], targets[:split])
    r2 = r_squared(rows[split:], targets[split:], coef, intercept)
    if r2 < MIN_R2:
        raise ValueError(f"held-out R² {r2:.3f} is below the gate {MIN_R2}")
    return {"features": FEATURES, "coef": coef, "intercept": intercept, "r2": r2}


def notify(alert: Alert) -> None:
    """Send to the same webhook as the callbacks (``SLACK_WEBHOOK_URL`` or the ``slack_conn`` Connection),
    and wait a bounded time: the task process may exit right after the task returns."""
    if send_slack_alert(alert, webhook_url=slack_webhook()):
        flush(DEFAULT_TIMEOUT)


def _model_and_alias(params: Any) -> tuple[str, str]:
    params = params or {}
    model = params.get("model") or os.environ.get("MODEL_NAME") or "my_model"
    alias = params.get("alias") or os.environ.get("DEFAULT_ALIAS") or "A"
    return str(model), str(alias).lstrip("@")


def readiness_failed(context: Any) -> None:
    """The sensor's extra failure callback: ``❌ [Airflow] READY check failed: my_model v12``."""
    try:
        context = context if isinstance(context, Mapping) else {}  # Airflow 2's Context is no dict
        try:
            registered = context["ti"].xcom_pull(task_ids="register") or {}
        except Exception as exc:  # no ti, or XCom unreachable: still alert, with what we know
            log.warning("could not read the registered version (%s)", type(exc).__name__)
            registered = {}
        model, _ = _model_and_alias(context.get("params"))
        notify(
            formatters.readiness_check_failed(
                registered.get("model") or model,
                registered.get("version", "?"),
                reason=context.get("exception"),
            )
        )
    except Exception as exc:  # alert_slack still reports the failure
        log.warning("readiness alert not sent (%s)", type(exc).__name__)


@dag(
    dag_id="model_pipeline",
    schedule=None,
    start_date=dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc),
    catchup=False,
    max_active_runs=1,
    params={"model": None, "alias": None, "samples": 400},
    default_args={"on_failure_callback": alert_slack, "retries": 0},
    on_failure_callback=alert_slack,
    tags=["alerts_lib", "model"],
    doc_md=__doc__,
)
def model_pipeline() -> None:
    @task
    def train(params: Any = None) -> dict[str, Any]:
        seed = random.SystemRandom().randrange(2**31)
        weights = train_model(seed, int((params or {}).get("samples") or 400))
        log.info(
            "trained on seed %d: coef=%s intercept=%.3f R²=%.4f",
            seed,
            weights["coef"],
            weights["intercept"],
            weights["r2"],
        )
        return weights

    @task
    def register(weights: dict[str, Any], params: Any = None, run_id: Any = None) -> dict[str, Any]:
        from fastapi_app.registry import registry_from_env

        model, alias = _model_and_alias(params)
        stored = {k: weights[k] for k in ("features", "coef", "intercept")}
        version = registry_from_env().register(model, stored, run_id=run_id)
        log.info("registered %s v%d (%s)", model, version.version, version.status)
        notify(formatters.model_registered(model, version.version, alias, run_id=run_id))
        return {"model": model, "version": version.version, "alias": alias}

    @task.sensor(poke_interval=2, timeout=120, mode="poke", on_failure_callback=[alert_slack, readiness_failed])
    def wait_ready(registered: dict[str, Any]) -> bool:
        from fastapi_app.registry import registry_from_env

        status = registry_from_env().get_version(registered["model"], registered["version"]).status
        if status == "FAILED":
            raise AirflowFailException(f"{registered['model']} v{registered['version']} is FAILED")
        return status == "READY"

    @task
    def hotswap(registered: dict[str, Any]) -> dict[str, Any]:
        import requests

        from fastapi_app.registry import registry_from_env

        model, version, alias = registered["model"], registered["version"], registered["alias"]
        base = os.environ.get("FASTAPI_RELOAD_URL", "").rstrip("/")
        if not base:
            raise AirflowSkipException("FASTAPI_RELOAD_URL is not set: no service to hot-swap")
        token = os.environ.get("FASTAPI_TOKEN", "")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            response = requests.post(
                f"{base}/variant/{quote(alias, safe='')}/reload",
                json={"version": version},
                headers=headers,
                timeout=RELOAD_TIMEOUT,
            )
        except requests.RequestException as exc:  # its text holds the URL: keep the type only
            raise RuntimeError(
                f"reload of {model}@{alias} to v{version}: service unreachable ({type(exc).__name__})"
            ) from None
        if response.status_code != 200:
            detail = response.text[:300]
            raise RuntimeError(f"reload of {model}@{alias} to v{version} failed: HTTP {response.status_code} {detail}")
        registry_from_env().set_alias(model, alias, version)
        log.info("service reloaded %s@%s to v%d; registry alias updated", model, alias, version)
        return response.json()

    registered = register(train())
    wait_ready(registered) >> hotswap(registered)


model_pipeline()
