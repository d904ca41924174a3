"""``--scenario``: drive the running service through every alert it sends, using only its public behaviour.

The service expects variants A, B and C but the registry only has A and B at startup, so it comes up
degraded. Then, as an Airflow DAG would: publish and hot-swap a new @A, try a reload that fails, send a
prediction that blows up, and publish C so the service recovers. Last, the service is SIGKILLed (it cannot
alert for itself) and started again: the watch reports it down, then back with how long it was down. Each
step waits until its alert is in the inbox, so what the demo prints is what a newcomer can see on the page.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import httpx

from fastapi_app.seed import demo_weights

from .stack import MODEL, DemoStack

SCENARIO_ALIASES = ("A", "B", "C")
SEEDED_ALIASES = ("A", "B")
PAUSE = 1.5  # seconds between steps, so each alert lands on its own and the page visibly updates


@dataclass(frozen=True)
class Step:
    says: str
    expect: str  # a substring of the alert text it must produce
    action: Callable[[DemoStack], None]


def _publish(stack: DemoStack, alias: str, index: int) -> int:
    version = stack.registry.register(MODEL, demo_weights(index), run_id=f"demo-{alias}-{index}")
    stack.registry.set_alias(MODEL, alias, version.version)
    return version.version


def _expect(response: httpx.Response, status: int) -> None:
    if response.status_code != status:
        raise RuntimeError(f"{response.request.url.path} answered {response.status_code}, expected {status}")


def _hotswap_a(stack: DemoStack) -> None:
    _publish(stack, "A", 5)
    _expect(stack.service("POST", "/variant/A/reload", admin=True), 200)


def _failed_reload(stack: DemoStack) -> None:
    _expect(stack.service("POST", "/variant/B/reload", admin=True, params={"version": 999}), 404)


def _prediction_error(stack: DemoStack) -> None:
    # Finite inputs whose weighted sum overflows: the service answers 500 and alerts once for the burst.
    features = {"x1": 1e308, "x2": -1e308, "x3": 1e308}
    for _ in range(3):
        _expect(stack.service("POST", "/predict", json={"features": features, "variant": "A"}), 500)


def _recover(stack: DemoStack) -> None:
    _publish(stack, "C", 2)
    _expect(stack.service("POST", "/variant/C/reload", admin=True), 200)


def _nothing(stack: DemoStack) -> None:
    return None


def _kill_service(stack: DemoStack) -> None:
    stack.kill_service()


def _restart_service(stack: DemoStack) -> None:
    stack.restart_service()


STEPS = [
    Step(f"health: the service expects {MODEL}@C, not published yet → degraded", f"{MODEL}@C missing", _nothing),
    Step(f"hot-swap: publish a new {MODEL} version and reload {MODEL}@A", f"{MODEL}@A hot-swapped to", _hotswap_a),
    Step(f"failed hot-swap: reload {MODEL}@B to v999, which does not exist", f"hot-swap of {MODEL}@B", _failed_reload),
    Step(
        "prediction error: 3 requests that overflow the model (one alert)",
        f"prediction error on {MODEL}@A",
        _prediction_error,
    ),
    Step(f"recovery: publish {MODEL}@C and reload it → health ok again", "recovered: ", _recover),
    Step("watch: the service is killed (SIGKILL) → the watch says it is down", "service model down", _kill_service),
    Step(
        "watch: the service is started again → the watch says for how long it was down",
        "service model healthy again after",
        _restart_service,
    ),
]

DONE, MISSED, INTERRUPTED = "done", "missed", "interrupted"


def wait_for_alert(
    stack: DemoStack,
    expect: str,
    timeout: float = 20.0,
    cancelled: Callable[[], bool] = lambda: False,
    skip: int = 0,
) -> bool:
    """Wait until an alert containing ``expect`` is in the inbox, not counting its ``skip`` oldest messages."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and not cancelled():
        texts = stack.inbox_texts()  # newest first
        if any(expect in text for text in texts[: max(0, len(texts) - skip)]):
            return True
        time.sleep(0.2)
    return False


def run(
    stack: DemoStack,
    say: Callable[[str], object] = print,
    pause: float = PAUSE,
    cancelled: Callable[[], bool] = lambda: False,
) -> str:
    """Run every step until ``cancelled()``: DONE when every expected alert reached the inbox, MISSED when
    one did not, INTERRUPTED when cancelled first (Ctrl-C), whatever the steps had seen so far."""
    all_seen = True
    for number, step in enumerate(STEPS, 1):
        if cancelled():
            return INTERRUPTED
        say(f"  {number}. {step.says}")
        # Only alerts the step caused count (the watch's earlier "healthy again" must not pass a later step);
        # the first step's alert came with the startup.
        before = 0 if step.action is _nothing else len(stack.inbox_texts())
        step.action(stack)
        seen = wait_for_alert(stack, step.expect, cancelled=cancelled, skip=before)
        if not seen and cancelled():
            return INTERRUPTED
        all_seen &= seen
        say("     ✔ alert in the inbox" if seen else "     ✘ alert did not reach the inbox (see the service log)")
        if _sleep(pause, cancelled):
            return INTERRUPTED
    return DONE if all_seen else MISSED


def _sleep(seconds: float, cancelled: Callable[[], bool]) -> bool:
    """Sleep, waking early when cancelled; True if it was."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if cancelled():
            return True
        time.sleep(min(0.1, max(0.0, deadline - time.monotonic())))
    return cancelled()
