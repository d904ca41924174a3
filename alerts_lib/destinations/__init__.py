"""One module per destination kind: how it renders an alert and what its answers mean (no I/O)."""
