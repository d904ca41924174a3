"""What to make of an attempt's result: deliver, retry (and when), or give up.

Pure functions, no I/O, no clock: the worker asks them, tests table-drive them. There is exactly one
copy of this logic; every caller, sync or async, reaches Slack through the same worker that asks it.
"""

from __future__ import annotations

import email.utils
import enum
import random
import time
from dataclasses import dataclass

import httpx


class Verdict(enum.Enum):
    DELIVERED = "delivered"
    RETRY = "retry"  # transient: 429, 5xx, network errors, deadline
    PERMANENT = "permanent"  # Slack will never accept this post: retrying only risks the webhook being disabled


@dataclass(frozen=True)
class Outcome:
    verdict: Verdict
    reason: str  # words for the log, never a URL
    retry_after: float | None = None
    status: int | None = None
    code: str | None = None  # Slack's error code, e.g. "channel_not_found"


# Slack's answers, in words an operator can act on (https://api.slack.com/messaging/webhooks#handling_errors).
SLACK_ERRORS: dict[str, str] = {
    "invalid_payload": "Slack could not read the message (malformed JSON or invalid blocks)",
    "invalid_blocks": "the message's blocks break Block Kit's rules",
    "invalid_blocks_format": "the message's blocks are not a valid Block Kit array",
    "user_not_found": "the user the message was addressed to does not exist",
    "action_prohibited": "a workspace admin restricted posting to this channel",
    "invalid_token": "the webhook's token is invalid: the app was uninstalled or the URL is wrong",
    "channel_not_found": "the webhook's channel was deleted or the app lost access to it",
    "no_service": "the webhook was revoked or disabled: create a new one",
    "no_service_id": "the webhook URL is incomplete (no service id)",
    "no_team": "the webhook URL is incomplete or its workspace was deleted",
    "team_disabled": "the Slack workspace is disabled",
    "channel_is_archived": "the webhook's channel is archived: unarchive it or point the webhook elsewhere",
    "posting_to_general_channel_denied": "only admins may post to this #general channel",
    "too_many_attachments": "the message has too many attachments",
    "rollup_error": "Slack had an internal error",
}


# Answers meaning "your blocks are wrong": the same alert as plain text will be accepted.
BLOCKS_REJECTED = frozenset({"invalid_payload", "invalid_blocks", "invalid_blocks_format"})


def blocks_rejected(outcome: Outcome) -> bool:
    return outcome.verdict is Verdict.PERMANENT and outcome.code in BLOCKS_REJECTED


def classify_response(status: int, body: str, retry_after_header: str | None = None) -> Outcome:
    """Slack answers 200 ``ok``; 429 and 5xx are worth another try; every other 4xx never will be."""
    code = body.strip()[:60] or None
    if status == 200:
        return Outcome(Verdict.DELIVERED, "ok", status=status, code=code)
    words = SLACK_ERRORS.get(code or "", "")
    reason = f"HTTP {status} {code or ''}".rstrip() + (f": {words}" if words else "")
    if status == 429:
        return Outcome(
            Verdict.RETRY,
            reason + ": rate limited by Slack",
            retry_after=parse_retry_after(retry_after_header),
            status=status,
            code=code,
        )
    if status >= 500 or status == 408:
        return Outcome(Verdict.RETRY, reason, retry_after=parse_retry_after(retry_after_header), status=status)
    return Outcome(Verdict.PERMANENT, reason, status=status, code=code)


def classify_error(exc: BaseException, deadline: float) -> Outcome:
    """A network failure: every one is transient from where we stand (DNS, refused, reset, timeouts)."""
    if isinstance(exc, TimeoutError):
        return Outcome(Verdict.RETRY, f"no complete answer within the {deadline:g} s deadline")
    if isinstance(exc, httpx.TimeoutException):
        return Outcome(Verdict.RETRY, f"timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
        return Outcome(Verdict.PERMANENT, f"the webhook URL cannot be used ({type(exc).__name__})")
    if isinstance(exc, httpx.ConnectError):
        return Outcome(Verdict.RETRY, "could not connect (refused, unreachable or DNS failure)")
    if isinstance(exc, httpx.RemoteProtocolError | httpx.ReadError | httpx.WriteError | ConnectionError):
        return Outcome(Verdict.RETRY, f"connection broken ({type(exc).__name__})")
    return Outcome(Verdict.RETRY, f"transport error ({type(exc).__name__})")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return float(max(0.0, when.timestamp() - (time.time() if now is None else now)))


@dataclass(frozen=True)
class RetryPolicy:
    """slack_sdk-style: exponential backoff with full jitter, but a server's ``Retry-After`` always wins."""

    max_retries: int = 5
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, failures: int, outcome: Outcome, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry number ``failures`` (1-based); None when the budget is spent."""
        if outcome.verdict is not Verdict.RETRY or failures > self.max_retries:
            return None
        if outcome.retry_after is not None:
            # Honour Slack, plus a little jitter so many processes sharing a webhook do not retry in lockstep.
            wait = min(outcome.retry_after, self.max_retry_after)
            return wait + (rng or random).uniform(0, 0.1 * max(wait, 1.0))
        ceiling = min(self.backoff_max, self.backoff_base * 2.0 ** (failures - 1))
        # "Equal jitter": at least half the ceiling, so retries do not collapse to zero delay.
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)
