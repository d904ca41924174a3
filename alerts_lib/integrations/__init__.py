"""Integrations with the frameworks alerts_lib's users run (Airflow, ...). The core never imports them."""
