"""``python -m inbox``: serve the inbox with uvicorn.

Settings come from flags or the environment (``INBOX_HOST``, ``INBOX_PORT``, ``INBOX_MAX_MESSAGES``,
``SLACK_FORWARD_URL``), so the same command works locally and in docker compose.
"""

from __future__ import annotations

import argparse
import logging
import os

import uvicorn

from .app import create_app

DEFAULT_PORT = 8025


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m inbox", description=__doc__)
    parser.add_argument("--host", default=os.environ.get("INBOX_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("INBOX_PORT", DEFAULT_PORT)))
    parser.add_argument("--max-messages", type=int, default=int(os.environ.get("INBOX_MAX_MESSAGES", 500)))
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    forward_url = os.environ.get("SLACK_FORWARD_URL", "").strip() or None
    app = create_app(args.max_messages, forward_url)
    logging.getLogger("inbox").info(
        "inbox on http://%s:%d/ (webhook: /services/...), forwarding to Slack: %s",
        args.host,
        args.port,
        "on" if forward_url else "off",
    )
    # access_log off: request lines would carry the webhook path, whose last segment is a token.
    uvicorn.run(app, host=args.host, port=args.port, access_log=False, log_level="info")


if __name__ == "__main__":
    main()
