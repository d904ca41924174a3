"""A local Slack-like inbox for incoming-webhook alerts.

Point ``SLACK_WEBHOOK_URL`` at ``http://127.0.0.1:8025/services/T000/B000/anything`` and watch alerts
arrive at ``http://127.0.0.1:8025/``, rendered the way Slack would show them. It answers like Slack
(``ok``, ``invalid_payload``, ``no_text``, ``invalid_blocks``), so a sender cannot pass here and fail in
Slack. Run it with ``python -m inbox``.
"""

from .app import create_app
from .slack_rules import Rejected, validate
from .store import Message, MessageStore

__all__ = ["Message", "MessageStore", "Rejected", "create_app", "validate"]
