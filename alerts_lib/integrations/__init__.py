"""Integrations with frameworks (FastAPI, ...). Each is imported only by its users: ``import alerts_lib``
imports none of them, nor their frameworks."""
