"""A FastAPI model-serving service: A/B variants from a model registry, hot-swap reload, Slack alerts.

Run it with ``python -m fastapi_app`` or ``uvicorn fastapi_app.main:app``. :mod:`fastapi_app.registry` is
stdlib-only and importable without the service's dependencies (the Airflow DAGs use it).
"""

__version__ = "0.1.0"
