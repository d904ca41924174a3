"""``python -m demo``: the whole alerting setup on 127.0.0.1 in one command, no Docker.

Starts the local Slack-like inbox and the model service (seeded registry in a temp dir, its
``SLACK_WEBHOOK_URL`` pointing at the inbox), prints both URLs, and with ``--scenario`` drives the
service through every alert it can send.
"""
