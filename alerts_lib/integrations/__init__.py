"""Integrations: each module wires alerts_lib into one framework and is imported only by its users.

The core never imports them; ``logging`` (stdlib only) is the one re-exported, as ``alerts_lib.AlertHandler``.
"""
