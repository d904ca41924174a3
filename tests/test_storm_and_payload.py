"""Storm windows and payload combining, with an injected clock: the rules, without waiting for them."""

from __future__ import annotations

from alerts_lib import formatters
from alerts_lib._held import RETIRE_GRACE, HeldRepeats
from alerts_lib._storm import StormControl
from alerts_lib.destinations.slack import annotate, batch_size, combine, render_alert, render_text


def test_first_alert_passes_repeats_are_counted_and_summarised_when_the_window_ends() -> None:
    storm: StormControl[str] = StormControl(window=60)
    assert storm.admit("k", "first", now=0)
    assert not any(storm.admit("k", f"repeat {i}", now=1 + i) for i in range(37))
    assert storm.admit("other", "other", now=5)  # a different alert is not held back
    assert storm.due(now=59) == []
    assert storm.next_due() == 60
    (summary,) = storm.due(now=60)
    assert (summary.sample, summary.repeats) == ("first", 37)  # the summary refers to the first alert
    assert summary.seconds == 37  # from the first alert to the last repeat, not the window's length


def test_a_storm_that_goes_on_is_summarised_once_per_window() -> None:
    storm: StormControl[str] = StormControl(window=10)
    sent = [t for t in range(35) if storm.admit("k", f"x{t}", now=t)]
    assert sent == [0, 10, 20, 30]  # one alert per window, not 35
    # Each window's repeats are summarised even though due() was not called between windows.
    assert [(s.sample, s.repeats) for s in storm.due(now=30.5)] == [("x0", 9), ("x10", 9), ("x20", 9)]
    assert [(s.sample, s.repeats) for s in storm.due(now=40)] == [("x30", 4)]


def test_quiet_windows_close_without_a_summary() -> None:
    storm: StormControl[str] = StormControl(window=10)
    assert storm.admit("k", "x", now=0)
    assert storm.due(now=11) == [] and not storm.pending()
    assert storm.admit("k", "x", now=12)  # a new window: sent again


def test_force_summarises_early_for_flush_and_exit() -> None:
    storm: StormControl[str] = StormControl(window=60)
    storm.admit("k", "x", now=0)
    storm.admit("k", "x", now=1)
    (summary,) = storm.due(now=3, force=True)
    assert (summary.repeats, summary.seconds) == (1, 1)


def test_held_repeats_counted_by_callers_are_read_once_each_even_after_withdrawal() -> None:
    held = HeldRepeats()
    message = "disk full"
    held.hold(message, (("k", "dest"),))
    published, counter = held.published[id(message)]
    assert published is message
    for _ in range(5):
        next(counter)
    assert [(h.message, n) for h, n in held.take()] == [(message, 5)]
    assert held.take() == []  # read once
    next(counter)
    held.withdraw(lambda key: False, now=10.0)  # its window ended
    assert id(message) not in held.published
    next(counter)  # a caller that looked it up just before the withdrawal
    ((late, count),) = held.take()
    assert (late.message, count) == (message, 2)  # the worker routes these as if they came through the queue
    held.withdraw(lambda key: False, now=10.0 + RETIRE_GRACE)
    assert not held


def test_window_zero_disables_storm_control() -> None:
    storm: StormControl[str] = StormControl(window=0)
    assert all(storm.admit("k", "x", now=0) for _ in range(5))


def test_combined_posts_stay_within_50_blocks_and_keep_order() -> None:
    payloads = [render_alert(formatters.alert(f"alert {i}", fields={"a": 1}, env="dev")) for i in range(40)]
    n = batch_size(payloads)  # type: ignore[arg-type]
    combined = combine(payloads[:n])  # type: ignore[arg-type]
    assert 1 < n < 40 and len(combined["blocks"]) <= 48  # room left for alerts_lib's own notes
    assert combined["text"].splitlines() == [f"ℹ️ alert {i} · dev" for i in range(n)]
    assert len(annotate(combined, "note")["blocks"]) <= 50


def test_text_and_block_alerts_are_not_mixed_in_one_post() -> None:
    plain = render_text("plain")
    rich = render_alert(formatters.alert("rich", env="dev"))
    assert batch_size([plain, plain, rich]) == 2
    assert batch_size([rich, plain]) == 1
