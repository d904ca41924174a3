"""TeamsDestination: Adaptive Cards valid against the official 1.4 schema, untrusted text inert (no mention,
no link, no markdown), within Teams' size limit, answers classified in words, and the sig never shown."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import httpx
import jsonschema
import pytest

from alerts_lib import Alert, formatters, mask_url
from alerts_lib._policy import Verdict
from alerts_lib._redact import scrub, secret_parts
from alerts_lib.destinations.teams import MAX_BATCH, MAX_MESSAGE_BYTES, TeamsDestination, teams_url_problem
from tests.support.fake_slack import FakeSlack

SIG = "s1gSECRETvalue-_AbC123xyz"
WORKFLOW = "0123456789abcdef0123456789abcdef"
URL = (
    "https://prod-00.westeurope.environment.api.powerplatform.com/powerautomate/automations/direct/workflows/"
    f"{WORKFLOW}/triggers/manual/paths/invoke?api-version=1&sp=%2Ftriggers%2Fmanual%2Frun&sv=1.0&sig={SIG}"
)
NOW = 1_790_000_000.0
HOSTILE = "<at>On call</at> [link](http://evil) <!channel> **bold** <script>x</script>"
SCHEMA = json.loads((files("adaptive_cards") / "schemas" / "schema-1.4.json").read_text())
VALIDATOR = jsonschema.Draft6Validator(SCHEMA)


def card_of(message: dict[str, Any]) -> dict[str, Any]:
    assert message["type"] == "message"
    [attachment] = message["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    card: dict[str, Any] = attachment["content"]
    return card


def assert_valid(message: dict[str, Any]) -> dict[str, Any]:
    """The card against the official 1.4 schema. ``msteams`` is Teams' host extension, which the generic schema
    (additionalProperties: false) does not know: it is checked by the tests on entities instead."""
    card = card_of(message)
    assert card["version"] == "1.4", "Teams shows cards above 1.4 as 'this card couldn't be displayed'"
    errors = sorted(VALIDATOR.iter_errors({k: v for k, v in card.items() if k != "msteams"}), key=str)
    assert not errors, [e.message for e in errors[:3]]
    return card


def strings(node: Any, owner: str = "") -> Iterator[tuple[str, str, str]]:
    """(element type, key, text) for every string in a card."""
    if isinstance(node, dict):
        kind = node.get("type", owner)
        for key, value in node.items():
            if isinstance(value, str):
                yield kind, key, value
            else:
                yield from strings(value, kind)
    elif isinstance(node, list):
        for item in node:
            yield from strings(item, owner)


def text_of(message: dict[str, Any]) -> str:
    return "\n".join(text for kind, key, text in strings(card_of(message)["body"]) if key == "text")


@pytest.fixture
def teams() -> TeamsDestination:
    return TeamsDestination("ml", URL)


ALERTS = [
    formatters.hotswap_succeeded("my_model", "A", 9, run_id="abc", previous_version=8, env="prod"),
    formatters.hotswap_failed("my_model", "A", ValueError("bad weights"), version=9, env="prod"),
    formatters.health_degraded(["A"], ["B"], details={"B": "missing file"}, env="prod"),
    formatters.health_recovered(["A", "B"]),
    formatters.prediction_error(KeyError("x2"), alias="A", model="m", request_id="r1"),
    formatters.airflow_event(
        "etl", task_id="load", exception=RuntimeError("boom\ntrace"), log_url="http://airflow:8080/x?a=1&b=2"
    ),
    formatters.service_started(version="1.2"),
    formatters.alert("plain"),
]


@pytest.mark.parametrize("alert", ALERTS, ids=lambda a: a.name or a.title)
def test_every_formatter_renders_a_valid_1_4_card(teams: TeamsDestination, alert: Alert) -> None:
    card = assert_valid(teams.render(alert, now=NOW))
    assert "entities" not in card["msteams"], "no mention unless configured"
    assert alert.title.split(":")[0] in text_of(teams.render(alert, now=NOW))


def test_card_shows_title_facts_monospace_body_link_and_context(teams: TeamsDestination) -> None:
    alert = formatters.airflow_event(
        "etl",
        task_id="load",
        run_id="r1",
        exception=RuntimeError("x" * 150),
        log_url="https://af/x?a=1&b=2",
        env="prod",
    )
    card = assert_valid(teams.render(alert, now=NOW))
    [container] = card["body"]
    assert container["style"] == "attention"
    title, *rest = container["items"]
    assert title["inlines"][0]["text"].startswith("🔥 [Airflow] task failed: etl.load: RuntimeError: xxx")
    assert title["inlines"][0]["text"].endswith(" · prod") and title["inlines"][0]["weight"] == "Bolder"
    rows = [r for r in rest if r["type"] == "ColumnSet"]
    facts = [
        (r["columns"][0]["items"][0]["inlines"][0]["text"], r["columns"][1]["items"][0]["inlines"][0]["text"])
        for r in rows
    ]
    assert ("dag", "etl") in facts and ("run_id", "r1") in facts
    [body] = [r for r in rest if r["type"] == "Container"]
    assert body["items"][0]["inlines"][0] == {
        "type": "TextRun",
        "text": "x" * 150,
        "fontType": "Monospace",
        "size": "Small",
    }
    [actions] = [r for r in rest if r["type"] == "ActionSet"]
    assert actions["actions"] == [{"type": "Action.OpenUrl", "title": "View log", "url": "https://af/x?a=1&b=2"}]
    context = rest[-1]["inlines"][0]
    assert (
        context["isSubtle"]
        and context["text"] == "source: Airflow · env: prod · severity: critical · 2026-09-21 14:13:20 UTC"
    )


def test_untrusted_text_cannot_mention_link_or_format(teams: TeamsDestination) -> None:
    mentioning = TeamsDestination("ml", URL, mention="On call <oncall@contoso.com>")
    alert = formatters.alert(
        HOSTILE,
        source=HOSTILE,
        fields={HOSTILE: HOSTILE},
        body=HOSTILE,
        link=("javascript:alert(1)", HOSTILE),
        env="prod",
    )
    for destination in (teams, mentioning):
        message = destination.render(alert, now=NOW)
        card = assert_valid(message)
        for kind, key, text in strings(card["body"]):
            if "evil" in text or "channel" in text or "bold" in text:
                assert kind == "TextRun", f"untrusted text in a {kind}.{key}, which Teams reads as markdown"
            if kind == "TextRun":
                assert "<at>" not in text.lower() and "</at>" not in text.lower(), "could match a mention entity"
        assert "ActionSet" not in json.dumps(card), "a javascript: link is no link"
        assert "<\u2060at>On call<\u2060/at>" in text_of(message), "shown as written, with an invisible joiner"

    card = card_of(mentioning.render(alert, now=NOW))
    tag = "<at>On call</at>"
    assert card["msteams"]["entities"] == [
        {"type": "mention", "text": tag, "mentioned": {"id": "oncall@contoso.com", "name": "On call"}}
    ]
    markdown = [text for kind, key, text in strings(card["body"]) if kind == "TextBlock" and key == "text"]
    assert markdown == [tag], "the one markdown text is the configured mention"


def test_mention_forms() -> None:
    bare = card_of(TeamsDestination("t", URL, mention="jane@contoso.com").render(formatters.alert("x"), now=NOW))
    assert bare["msteams"]["entities"][0]["mentioned"] == {"id": "jane@contoso.com", "name": "jane@contoso.com"}
    for bad in ("", "<script>", "a <b> <c>"):
        card = card_of(TeamsDestination("t", URL, mention=bad).render(formatters.alert("x"), now=NOW))
        assert "entities" not in card["msteams"]


@pytest.mark.parametrize(
    "alert",
    [
        formatters.prediction_error(RuntimeError("boom " * 200_000)),  # a 1 MB exception message
        formatters.alert("🔥" * 300_000, body="é" * 500_000),  # each escapes to 6-12 bytes of JSON
        formatters.alert("many", fields={f"f{i}": "v" * 10_000 for i in range(40)}, body="x" * 1_000_000),
    ],
    ids=["1MB-exception", "emoji", "fields"],
)
def test_huge_alerts_fit_teams_limit_and_say_they_were_cut(teams: TeamsDestination, alert: Alert) -> None:
    message = teams.render(alert, now=NOW)
    assert_valid(message)
    assert len(json.dumps(message).encode()) <= MAX_MESSAGE_BYTES < 28_000
    assert "…(truncated)" in text_of(message)
    noted = teams.annotate(message, "⚠️ alerts_lib dropped 12 alert(s): its queue was full")
    assert len(json.dumps(noted).encode()) < 28_000, "room is left for alerts_lib's notes"


def test_plain_text_and_notes_are_text_runs(teams: TeamsDestination) -> None:
    message = teams.render_text("*deploy* done " + HOSTILE, now=NOW)
    card = assert_valid(message)
    assert [kind for kind, key, _ in strings(card["body"]) if key == "text"] == ["TextRun"]
    noted = teams.annotate(message, "… and 37 more like this in the last 60 s")
    assert_valid(noted)
    assert text_of(noted).endswith("… and 37 more like this in the last 60 s")
    assert "37 more" not in text_of(message), "annotate copies"


def test_batch_combines_alerts_into_one_card_while_it_fits(teams: TeamsDestination) -> None:
    mentioning = TeamsDestination("t", URL, mention="oncall@contoso.com")
    renders = [mentioning.render(formatters.alert(f"alert {i}"), now=NOW) for i in range(3)]
    batch = mentioning.batch(renders)
    assert batch.count == 3
    card = assert_valid(batch.body)
    assert [c["type"] for c in card["body"]] == ["Container"] * 3
    assert [c.get("separator") for c in card["body"]] == [None, True, True]
    assert len(card["msteams"]["entities"]) == 1, "one entity for the repeated mention"
    mentions = [text for kind, key, text in strings(card["body"]) if kind == "TextBlock" and key == "text"]
    assert mentions == ["<at>oncall@contoso.com</at>"], "pinged once per card"
    assert teams.batch(renders[:1]).body == renders[0]

    many = [teams.render(formatters.alert(f"a{i}"), now=NOW) for i in range(MAX_BATCH + 5)]
    assert teams.batch(many).count == MAX_BATCH
    big = [teams.render(formatters.alert(f"b{i}", body="y" * 9000), now=NOW) for i in range(5)]
    batch = teams.batch(big)
    assert 1 <= batch.count < 5 and len(json.dumps(batch.body)) <= MAX_MESSAGE_BYTES
    huge = [teams.render(formatters.alert("c", body="🔥" * 1_000_000), now=NOW)] * 2  # 12 bytes each in JSON
    assert teams.batch(huge).count == 1, "a full card still goes, alone"


@pytest.mark.parametrize(
    ("status", "body", "headers", "verdict", "words"),
    [
        (202, "", {}, Verdict.DELIVERED, "accepted"),
        (200, "", {}, Verdict.DELIVERED, "ok"),
        (429, "", {"Retry-After": "7"}, Verdict.RETRY, "throttled"),
        (503, "", {}, Verdict.RETRY, "HTTP 503"),
        (408, "", {}, Verdict.RETRY, "HTTP 408"),
        (400, '{"error":{"code":"TriggerInputSchemaMismatch","message":"x"}}', {}, Verdict.PERMANENT, "schema"),
        (401, '{"error":{"code":"DirectApiAuthorizationRequired"}}', {}, Verdict.PERMANENT, "sig= signature"),
        (403, "", {}, Verdict.PERMANENT, "signature was refused"),
        (
            404,
            '{"error":{"code":"WorkflowNotFound","message":"The workflow was not found"}}',
            {},
            Verdict.PERMANENT,
            "deleted",
        ),
        (404, "<html>not found</html>", {}, Verdict.PERMANENT, "does not exist any more"),
        (413, "", {}, Verdict.PERMANENT, "28 KB"),
        (409, '{"error":{"code":"WorkflowTriggerIsNotEnabled"}}', {}, Verdict.PERMANENT, "turned off"),
        (418, '{"error":{"code":"<!channel> weird code"}}', {}, Verdict.PERMANENT, "refused the post"),
    ],
)
def test_answers_are_classified_in_words(
    teams: TeamsDestination, status: int, body: str, headers: dict[str, str], verdict: Verdict, words: str
) -> None:
    outcome = teams.classify(status, body, headers)
    assert outcome.verdict is verdict and words in outcome.reason
    assert "<" not in outcome.reason and SIG not in outcome.reason
    if status == 429:
        assert outcome.retry_after == 7.0
    assert teams.classify(429, "", httpx.Headers({"retry-after": "3"})).retry_after == 3.0


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        (URL, None),
        ("http://127.0.0.1:8025/workflows/abc/invoke?sig=local", None),
        ("http://localhost:8025/powerautomate/x?sig=local", None),
        (URL.replace("https://", "http://"), "https://"),
        (URL.split("&sig=")[0], "no sig="),
        ("https://prod-1.westeurope.logic.azure.com/workflows/x/triggers/manual/paths/invoke?sig=abc", "retired"),
        ("ftp://x/y?sig=1", "http"),
        ("", "empty"),
        ("https://:99999/x?sig=1", "not a valid URL"),
    ],
)
def test_url_problems(url: str, problem: str | None) -> None:
    found = teams_url_problem(url)
    assert (found is None) if problem is None else (problem in (found or "")), found
    assert SIG not in (found or "")


def test_sig_never_shown_in_repr_mask_render_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    with FakeSlack() as server:  # answers any path; here, the local stand-in for a Workflows endpoint
        url = (
            f"http://127.0.0.1:{server.port}/workflows/{WORKFLOW}/triggers/manual/paths/invoke?api-version=1&sig={SIG}"
        )
        teams = TeamsDestination("ml", url)
        message = teams.render(formatters.alert("x"), now=NOW)
        answer = httpx.post(teams.post_url(teams.urls[0]), json=message)  # httpx logs the URL at INFO
        assert teams.classify(answer.status_code, answer.text, answer.headers).verdict is Verdict.DELIVERED
    assert "HTTP Request: POST http://127.0.0.1" in caplog.text, "the scrubbed line is still logged"
    for shown in (repr(teams), teams.mask(url), mask_url(URL), json.dumps(message), caplog.text, scrub(f"boom {URL}")):
        assert SIG not in shown
    assert teams.mask(URL) == (
        "https://prod-00.westeurope.environment.api.powerplatform.com/powerautomate/automations/direct/"
        "workflows/012345…/triggers/manual/paths/invoke?api-version=1&sp=…&sv=1.0&sig=****"
    )
    assert secret_parts(URL) == {URL: teams.mask(URL), SIG: "****"}, "the path is no secret: logs keep it"
    assert teams.resends(NOW) == [] and teams.post_url(URL) == URL
