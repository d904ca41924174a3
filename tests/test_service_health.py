"""Health: degraded states from a missing or corrupt registry, and alerts only on transitions."""

from __future__ import annotations

import shutil
from typing import Any

import alerts_lib
from fastapi_app.registry import FileRegistry
from fastapi_app.seed import demo_weights
from tests.support.fake_slack import TOKEN, FakeSlack
from tests.support.service_fixtures import ClientFactory
from tests.support.service_helpers import AUTH, FEATURES, MODEL

STARTED = "🚀 [FastAPI] started: my_model@A, my_model@B · dev"
DEGRADED_B = "⚠️ [FastAPI] degraded: my_model@B missing (loaded: my_model@A) · dev"


def weights_file(registry: FileRegistry, version: int) -> Any:
    return registry.root / MODEL / "versions" / str(version) / "weights.json"


def test_all_loaded_means_ok_and_only_the_startup_alert(make_client: ClientFactory, alerts: Any) -> None:
    with make_client() as c:
        for _ in range(5):
            assert c.get("/health").json()["status"] == "ok"
    assert alerts.texts == [STARTED]
    started = alerts[0].payload["blocks"]
    assert "my_model" in str(started) and "blue_green" in str(started)
    assert dict(alerts[0].alert.fields)["health"] == "ok"


def test_missing_weights_degrade_once_and_keep_serving(
    make_client: ClientFactory, alerts: Any, registry: FileRegistry
) -> None:
    weights_file(registry, 2).unlink()
    with make_client() as c:
        for _ in range(10):  # probes see the state; only the transition alerted
            r = c.get("/health")
            assert r.status_code == 200
        body = r.json()
        assert (body["status"], body["loaded"], body["missing"]) == ("degraded", ["A"], ["B"])
        assert body["errors"] == {"B": "my_model v2 weights: not found"}
        assert c.post("/predict", json={"features": FEATURES}).json()["variant"] == "A"
        forced = c.post("/predict", json={"features": FEATURES}, headers={"X-Variant": "B"})
        assert forced.status_code == 503
        assert forced.json()["detail"] == "the requested variant is not loaded"
    # The startup alert follows the startup (alerts_lib.integrations.fastapi), so it says how it went.
    assert alerts.texts == [DEGRADED_B, STARTED]
    assert "not found" in str(alerts[0].payload["blocks"])  # the reason is in the alert's fields
    assert dict(alerts[1].alert.fields)["health"] == "degraded"


def test_recovery_after_a_successful_reload_alerts_once(
    make_client: ClientFactory, alerts: Any, registry: FileRegistry
) -> None:
    saved = weights_file(registry, 2).read_bytes()
    weights_file(registry, 2).write_bytes(b"{corrupt")
    with make_client() as c:
        assert c.get("/health").json()["errors"]["B"] == "my_model v2 weights: not valid JSON"
        failed = c.post("/variant/B/reload", headers=AUTH)  # still corrupt: a failed hot-swap, still degraded
        assert failed.status_code == 409
        weights_file(registry, 2).write_bytes(saved)
        assert c.post("/variant/B/reload", headers=AUTH).status_code == 200
        for _ in range(5):
            assert c.get("/health").json()["status"] == "ok"
    assert alerts.texts == [
        DEGRADED_B,
        STARTED,
        "❌ [FastAPI] hot-swap of my_model@B failed: CorruptEntryError: my_model v2 weights: not valid JSON · dev",
        "🔁 [FastAPI] my_model@B hot-swapped to v2 (run_id=seed-B) · dev",
        "✅ [FastAPI] recovered: my_model@A, my_model@B loaded · dev",
    ]


def test_a_change_in_what_is_missing_is_a_new_transition(
    make_client: ClientFactory, alerts: Any, registry: FileRegistry
) -> None:
    (registry.root / MODEL / "aliases.json").write_text("{oops")  # neither alias resolvable
    with make_client() as c:
        r = c.get("/health")
        assert r.status_code == 503  # nothing at all to serve
        assert r.json()["status"] == "degraded" and r.json()["missing"] == ["A", "B"]
        assert c.post("/predict", json={"features": FEATURES}).status_code == 503
        assert c.get("/livez").status_code == 200  # alive, just not ready
        assert c.post("/variant/A/reload?version=1", headers=AUTH).status_code == 200
        assert c.get("/health").json()["missing"] == ["B"]
        assert c.get("/health").status_code == 200
    assert alerts.find("degraded: my_model@A, my_model@B missing (loaded: none)") and alerts.find(DEGRADED_B)
    assert len(alerts.find("degraded")) == 2 and not alerts.find("recovered")


def test_a_registry_directory_that_does_not_exist(
    make_client: ClientFactory, alerts: Any, registry: FileRegistry
) -> None:
    shutil.rmtree(registry.root)
    with make_client() as c:
        body = c.get("/health").json()
        assert body["loaded"] == [] and body["missing"] == ["A", "B"]
        assert body["errors"]["A"] == "registry has no alias my_model@A"
    assert alerts.texts == ["⚠️ [FastAPI] degraded: my_model@A, my_model@B missing (loaded: none) · dev", STARTED]


def test_versions_that_are_not_ready_are_not_served(
    make_client: ClientFactory, alerts: Any, registry: FileRegistry
) -> None:
    registry.mark_failed(MODEL, 2)
    with make_client() as c:
        body = c.get("/health").json()
        assert body["missing"] == ["B"]
        assert body["errors"]["B"] == "my_model v2 is FAILED, not READY"


def test_a_new_version_published_later_fixes_a_missing_alias(
    make_client: ClientFactory, alerts: Any, registry: FileRegistry
) -> None:
    """What the Airflow DAG does: register a version, move the alias, ask the service to reload."""
    weights_file(registry, 2).unlink()
    with make_client() as c:
        assert c.get("/health").json()["status"] == "degraded"
        new = registry.register(MODEL, demo_weights(5), run_id="airflow-run-9")
        registry.set_alias(MODEL, "B", new.version)
        r = c.post("/variant/B/reload", headers=AUTH)
        assert r.json()["version"] == new.version and r.json()["previous_version"] is None
        assert c.get("/health").json()["status"] == "ok"
    assert alerts.find(f"hot-swapped to v{new.version} (run_id=airflow-run-9)")
    assert len(alerts.find("recovered")) == 1


def test_extra_configured_aliases_count_for_health(make_client: ClientFactory, alerts: Any) -> None:
    with make_client(MODEL_ALIASES="A,B,C") as c:
        body = c.get("/health").json()
        assert body["missing"] == ["C"] and body["status"] == "degraded"
    assert alerts.find("degraded: my_model@C missing (loaded: my_model@A, my_model@B)")


def test_health_says_why_alerts_do_not_reach_slack(make_client: ClientFactory, deliver_to: Any) -> None:
    """An operator sees "Slack refuses: invalid_token" in /health, with no URL, and the status stays ok."""
    with FakeSlack(mode="invalid_token") as slack:
        deliver_to(slack.url)
        with make_client() as c:
            assert slack.wait_for(lambda s: len(s.requests) >= 1)  # the startup alert, refused
            assert alerts_lib.flush(5)
            body = c.get("/health").json()
    assert body["status"] == "ok"
    summary = body["alerts"]["default"]
    assert (summary["delivered"], summary["failed"], summary["queued"]) == (0, 1, 0)
    assert "invalid_token" in summary["last_error"]
    assert "://" not in str(body["alerts"]) and TOKEN not in str(body)


def test_health_counts_delivered_alerts(make_client: ClientFactory, slack: FakeSlack, deliver_to: Any) -> None:
    deliver_to(slack.url)
    with make_client() as c:
        assert alerts_lib.flush(5)
        assert c.get("/health").json()["alerts"] == {
            "default": {"delivered": 1, "failed": 0, "dropped": 0, "queued": 0, "last_error": None}
        }
