"""Integrations: each module wires alerts_lib into one framework (FastAPI, Airflow, logging) and is imported only
by its users. ``import alerts_lib`` imports none of them, nor their frameworks; ``logging`` (stdlib only) is the one
re-exported, as ``alerts_lib.AlertHandler``.
"""
