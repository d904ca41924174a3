"""Formatters are pure and safe: any input gives a payload within Slack's limits with nothing unescaped."""

from __future__ import annotations

import dataclasses
import json
import logging
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from alerts_lib import Alert, formatters
from alerts_lib.destinations.slack import render_alert

LIMITS = {"blocks": 50, "section": 3000, "field": 2000, "fields": 10, "text": 40_000}
# What untrusted text could do if it reached Slack unescaped.
DANGER = ["<!channel>", "<!here>", "<!everyone>", "<@U123>", "<!subteam^S1>", "<https://evil.example|bank>"]


def check_limits(payload: dict[str, Any]) -> None:
    json.dumps(payload).encode("utf-8")  # encodable, no lone surrogates
    assert len(payload["text"]) <= LIMITS["text"]
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert len(payload["blocks"]) <= LIMITS["blocks"]
    for block in payload["blocks"]:
        if "text" in block:
            assert len(block["text"]["text"]) <= LIMITS["section"]
        assert len(block.get("fields", [])) <= LIMITS["fields"]
        for field in block.get("fields", []):
            assert len(field["text"]) <= LIMITS["field"]


def all_mrkdwn(payload: dict[str, Any]) -> list[str]:
    out = [payload["text"]]
    for block in payload["blocks"]:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [f["text"] for f in block.get("fields", [])]
        out += [e["text"] for e in block.get("elements", [])]
    return out


def assert_no_control_sequences(payload: dict[str, Any]) -> None:
    """Interpolated values may only appear escaped: no raw <, > and no & that does not start an entity."""
    for text in all_mrkdwn(payload):
        stripped = re.sub(r"<https?://[^<>|\s]+\|[^<>]*>", "", text)  # the alert's own log link
        assert "<" not in stripped and ">" not in stripped, text
        assert not re.search(r"&(?!amp;|lt;|gt;)", stripped), text


ANY_VALUE = st.one_of(
    st.none(),
    st.text(),
    st.text(alphabet="<>&!@|*_`~ \n"),
    st.sampled_from(DANGER),
    st.integers(),
    st.floats(allow_nan=True),
    st.binary(),
    st.builds(ValueError, st.text()),
    st.text(min_size=3000, max_size=6000),
)


@settings(max_examples=150, deadline=None)
@given(a=ANY_VALUE, b=ANY_VALUE, c=ANY_VALUE, d=ANY_VALUE)
def test_any_input_gives_a_safe_payload_within_limits(a: Any, b: Any, c: Any, d: Any) -> None:
    built = [
        formatters.alert(a, fields={"x": b, "y": c}, body=d, source="Svc", env="prod"),
        formatters.service_started(version=a, model=b, aliases=[c, d], details={"k": b}),
        formatters.hotswap_succeeded(a, b, c, run_id=d),
        formatters.hotswap_failed(a, b, c, version=d),
        formatters.health_degraded([a, b], [c, d], model=a),
        formatters.health_recovered([a, b], model=c),
        formatters.prediction_error(a, model=b, alias=c, request_id=d),
        formatters.model_registered(a, b, c, run_id=d),
        formatters.readiness_check_failed(a, b, reason=c),
        formatters.airflow_event(a, task_id=b, exception=c, log_url=d, reason=a, run_id=b),
    ]
    for alert in built:
        payload = render_alert(alert)
        check_limits(payload)
        assert_no_control_sequences(payload)


def test_examples_read_as_the_team_expects() -> None:
    assert formatters.hotswap_succeeded("my_model", "A", 9, run_id="abc").text == (
        "🔁 [FastAPI] my_model@A hot-swapped to v9 (run_id=abc)"
    )
    assert formatters.health_degraded(["A"], ["B"], model="my_model", env="prod").text == (
        "⚠️ [FastAPI] degraded: my_model@B missing (loaded: my_model@A) · prod"
    )
    assert formatters.health_degraded([], ["A"], model="m").text == "⚠️ [FastAPI] degraded: m@A missing (loaded: none)"
    assert formatters.model_registered("my_model", 12, "A").text == (
        "✅ [Airflow] model registered: my_model v12 → my_model@A"
    )
    assert formatters.readiness_check_failed("my_model", 12).text == "❌ [Airflow] READY check failed: my_model v12"
    assert formatters.airflow_event("etl", task_id="load", exception=ValueError("boom")).text == (
        "🔥 [Airflow] task failed: etl.load: ValueError: boom"
    )
    assert formatters.airflow_event("etl", reason="task_failure").text == "🔥 [Airflow] DAG failed: etl"
    assert formatters.health_recovered(["A", "B"], model="my_model").text == (
        "✅ [FastAPI] recovered: my_model@A, my_model@B loaded"
    )
    assert formatters.prediction_error(KeyError("x2"), model="my_model", alias="A").text == (
        "❌ [FastAPI] prediction error on my_model@A: KeyError: 'x2'"
    )


def test_the_startup_alert_names_the_service_once_and_what_it_serves() -> None:
    started = formatters.service_started("FastAPI", model="my_model", aliases=["A", "B"], version="0.1.0")
    assert started.text == "🚀 [FastAPI] started: my_model@A, my_model@B"
    assert ("version", "v0.1.0") in started.fields
    assert formatters.service_started().text == "🚀 [FastAPI] started"
    assert formatters.service_started("Billing", model="invoices").text == "🚀 [Billing] started: invoices"


def test_hot_swap_alerts_name_the_model_so_a_shared_channel_can_tell_them_apart() -> None:
    first = formatters.hotswap_succeeded("fraud", "A", 3)
    second = formatters.hotswap_succeeded("churn", "A", 3)
    assert first.text != second.text
    assert first.text == "🔁 [FastAPI] fraud@A hot-swapped to v3"
    assert formatters.hotswap_failed("fraud", "B", ValueError("x"), version=999).text == (
        "❌ [FastAPI] hot-swap of fraud@B to v999 failed: ValueError: x"
    )


def test_versions_read_v3_everywhere_titles_and_fields() -> None:
    built = [
        formatters.hotswap_succeeded("m", "A", 3, previous_version=2),
        formatters.hotswap_failed("m", "A", ValueError("x"), version=3),
        formatters.prediction_error(ValueError("x"), model="m", alias="A", version=3),
        formatters.model_registered("m", 3, "A"),
        formatters.readiness_check_failed("m", 3),
    ]
    for alert in built:
        rendered = " ".join([alert.title, *(f"{k}={v}" for k, v in alert.fields)])
        assert "v3" in rendered, rendered
        assert not re.search(r"(?<![v\w])3\b", rendered), f"a bare version number in {rendered!r}"
        assert "version 3" not in rendered


def test_an_exception_message_cannot_ping_or_forge_links() -> None:
    error = RuntimeError("<!channel> click <https://evil.example|your bank> & <@U42>")
    payload = render_alert(formatters.prediction_error(error, alias="<!here>"))
    rendered = json.dumps(payload, ensure_ascii=False)
    for danger in ["<!channel>", "<!here>", "<https://evil", "<@U42>"]:
        assert danger not in rendered
    assert "&lt;!channel&gt;" in payload["text"]


def test_mention_from_configuration_does_ping() -> None:
    alert = formatters.airflow_event("etl", task_id="t", mention="<!subteam^S1>")
    assert alert.text.startswith("<!subteam^S1> 🔥")
    assert render_alert(alert)["blocks"][0]["text"]["text"].startswith("<!subteam^S1> *🔥")


def test_log_link_is_a_real_link_only_for_http_urls() -> None:
    ok = formatters.airflow_event("d", task_id="t", log_url="http://localhost:8080/dags/d/runs/r?a=1&b=2")
    assert "<http://localhost:8080/dags/d/runs/r?a=1&amp;b=2|View log>" in json.dumps(
        render_alert(ok), ensure_ascii=False
    )
    forged = formatters.airflow_event("d", log_url="javascript:alert(1)|x>")
    assert "View log" not in json.dumps(render_alert(forged))


def test_long_values_are_visibly_truncated() -> None:
    payload = render_alert(formatters.hotswap_failed("m", "A", ValueError("x" * 100_000)))
    check_limits(payload)
    assert "…(truncated)" in json.dumps(payload, ensure_ascii=False)
    assert len(payload["text"]) < 400


def test_too_many_fields_are_cut_and_said() -> None:
    payload = render_alert(formatters.alert("t", fields={f"k{i}": i for i in range(30)}))
    check_limits(payload)
    assert "21 more fields" in json.dumps(payload)


def test_alert_is_plain_immutable_data() -> None:
    alert = formatters.alert("t", severity="nonsense")
    assert isinstance(alert, Alert) and alert.severity.value == "info"
    assert alert.with_env("prod").env == "prod" and alert.env is None
    assert formatters.alert("t", env="dev").with_env("prod").env == "dev"


def test_airflow_failures_of_different_runs_are_not_merged() -> None:
    first = formatters.airflow_event("etl", task_id="t", run_id="r1", exception=ValueError("x"))
    second = formatters.airflow_event("etl", task_id="t", run_id="r2", exception=ValueError("x"))
    assert first.dedup_key != second.dedup_key


def test_airflow_string_exception_has_no_meaningless_type_field() -> None:
    alert = formatters.airflow_event("etl", task_id="t", exception="Task killed externally")
    assert "exception" not in dict(alert.fields)
    assert alert.text == "🔥 [Airflow] task failed: etl.t: Task killed externally"


def test_an_unknown_severity_is_logged_once_per_value_escaped_and_clipped(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="alerts_lib")
    for _ in range(3):
        assert formatters.alert("t", severity="critcal-typo").severity.value == "info"
    formatters.alert("t", severity="Critcal-Typo ")  # the same value, once normalised
    formatters.alert("t", severity="<!channel>\nforged: log line" + "x" * 500)
    formatters.alert("t", severity="error")
    warnings = [r.getMessage() for r in caplog.records if "unknown severity" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert warnings[0] == (
        "alerts_lib: unknown severity 'critcal-typo', sent as info (known: critical, error, warning, info, success)"
    )
    assert "\n" not in warnings[1] and "\\n" in warnings[1], "one log line, the newline escaped"
    assert len(warnings[1]) < 200 and "…(truncated)" in warnings[1]


def test_the_hot_path_constructor_makes_the_same_alert() -> None:
    fast = formatters.prediction_error(KeyError("x2"), model="m", alias="A", version=9)
    slow = Alert(**{name: getattr(fast, name) for name in fast.__dataclass_fields__})
    assert fast == slow and hash(fast) == hash(slow) and repr(fast) == repr(slow)
    with pytest.raises(dataclasses.FrozenInstanceError):
        fast.title = "changed"  # type: ignore[misc]


def test_a_repeated_prediction_error_is_built_once_and_never_shown_stale() -> None:
    """The failing service's request path: the same error on the same variant reuses one built alert."""
    error = KeyError("x2")
    first = formatters.prediction_error(error, model="m", alias="A", version=3)
    assert formatters.prediction_error(KeyError("x2"), model="m", alias="A", version=3) is first
    with_ids = [formatters.prediction_error(error, model="m", alias="A", version=3, request_id=r) for r in ("r1", "r2")]
    assert [a.fields[-1] for a in with_ids] == [("request_id", "r1"), ("request_id", "r2")]
    assert all(a.title == first.title and a.dedup_key == first.dedup_key for a in with_ids)
    assert "request_id" not in dict(first.fields)

    class Countdown(Exception):
        left = 3

        def __str__(self) -> str:
            Countdown.left -= 1
            return f"{Countdown.left} left"

    countdown = Countdown()
    titles = [formatters.prediction_error(countdown, alias="A").title for _ in range(2)]
    assert titles == ["prediction error on @A: Countdown: 2 left", "prediction error on @A: Countdown: 1 left"]
    # Values that compare equal but read differently are not confused: 3.0 is not 3, True is not 1.
    assert ("version", "v3.0") in formatters.prediction_error(error, alias="A", version=3.0).fields
    assert ("alias", "@True") in formatters.prediction_error(error, alias=True).fields
    assert ("alias", "@1") in formatters.prediction_error(error, alias=1).fields
