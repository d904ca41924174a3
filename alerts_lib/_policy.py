"""What to make of an attempt's result: deliver, retry (and when), or give up.

Pure functions, no I/O, no clock: the worker asks them, tests table-drive them. There is exactly one
copy of this logic; every caller, sync or async, and every destination goes through the same worker that asks
it. A destination module only turns its answers into an :class:`Outcome` (its error codes in words).
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


def classify_status(status: int, reason: str, retry_after: float | None = None, *, code: str | None = None) -> Outcome:
    """The verdict every HTTP destination shares: 2xx delivered; 429, 408 and 5xx are worth another try
    (``Retry-After`` honoured); every other 4xx never will be, so retrying only risks the webhook being disabled."""
    if 200 <= status < 300:
        return Outcome(Verdict.DELIVERED, "ok", status=status, code=code)
    if status == 429 or status == 408 or status >= 500:
        return Outcome(Verdict.RETRY, reason, retry_after=retry_after, status=status, code=code)
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
    """Retry a transient failure for as long as an outage lasts, up to ``give_up_after`` seconds from when the
    alert was raised: exponential backoff with jitter capped at ``backoff_max`` (so an alert is delivered within
    about that long after the destination is back), but a server's ``Retry-After`` always wins."""

    give_up_after: float = 3600.0
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    max_retry_after: float = 300.0

    def delay(self, failures: int, outcome: Outcome, rng: random.Random | None = None) -> float | None:
        """Seconds to wait before retry number ``failures`` (1-based); None when the outcome is not retried."""
        if outcome.verdict is not Verdict.RETRY:
            return None
        if outcome.retry_after is not None:
            # Honour the server, plus a little jitter so many processes sharing a webhook do not retry in lockstep.
            wait = min(outcome.retry_after, self.max_retry_after)
            return wait + (rng or random).uniform(0, 0.1 * max(wait, 1.0))
        exponent = min(max(failures, 1) - 1, 60)  # 2**60 s is past any cap; bounded so it never overflows
        ceiling = min(self.backoff_max, self.backoff_base * 2.0**exponent)
        # "Equal jitter": at least half the ceiling, so retries do not collapse to zero delay.
        return ceiling / 2 + (rng or random).uniform(0, ceiling / 2)

    def expired(self, age: float) -> bool:
        """True when an alert ``age`` seconds old is given up on its next transient failure."""
        return age >= self.give_up_after
