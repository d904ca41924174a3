"""POST /variant/{alias}/reload: authentication, hot swap, failures, and swaps racing predictions."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from fastapi.testclient import TestClient

from fastapi_app.registry import FileRegistry
from fastapi_app.seed import demo_weights
from tests.support.service_fixtures import ClientFactory
from tests.support.service_helpers import ADMIN_TOKEN, AUTH, FEATURES, MODEL, expected

# -- authentication ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {ADMIN_TOKEN}"},
        {"Authorization": f"Bearer {ADMIN_TOKEN}x"},
        {"Authorization": f"Bearer {ADMIN_TOKEN[:-1]}"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer tökén-ü".encode()},  # raw non-ASCII bytes on the wire
    ],
)
def test_reload_without_the_right_token_is_401(client: TestClient, alerts: Any, headers: dict[str, str]) -> None:
    r = client.post("/variant/A/reload", headers=headers)
    assert r.status_code == 401
    assert r.json() == {"detail": "missing or invalid bearer token"}
    assert r.headers["www-authenticate"] == "Bearer"
    assert ADMIN_TOKEN not in r.text
    assert not alerts.find("hot-swap")


def test_anonymous_callers_cannot_probe_aliases(client: TestClient) -> None:
    assert client.post("/variant/nope/reload").status_code == 401


def test_without_a_token_reload_is_refused_not_open(make_client: ClientFactory, alerts: Any) -> None:
    with make_client(FASTAPI_TOKEN=None) as c:
        r = c.post("/variant/A/reload")
        assert r.status_code == 503
        assert "FASTAPI_TOKEN is not set" in r.json()["detail"]
        assert c.post("/variant/A/reload", headers={"Authorization": "Bearer anything"}).status_code == 503
    assert not alerts.find("hot-swap")


def test_the_demo_opt_in_opens_reload_only_without_a_token(make_client: ClientFactory, alerts: Any) -> None:
    with make_client(FASTAPI_TOKEN=None, ALLOW_UNAUTHENTICATED_RELOAD="true") as c:
        assert c.post("/variant/A/reload").status_code == 200
    with make_client(ALLOW_UNAUTHENTICATED_RELOAD="true") as c:  # a token is set: it is required
        assert c.post("/variant/A/reload").status_code == 401


# -- successful swaps ---------------------------------------------------------------------------------------


def test_reload_follows_the_registry_alias_and_alerts(client: TestClient, alerts: Any, registry: FileRegistry) -> None:
    new = registry.register(MODEL, demo_weights(7), run_id="run-abc")
    registry.set_alias(MODEL, "A", new.version)
    r = client.post("/variant/A/reload", headers=AUTH)
    assert r.status_code == 200
    assert r.json() == {
        "model": MODEL,
        "alias": "A",
        "version": 3,
        "previous_version": 1,
        "run_id": "run-abc",
    }
    assert alerts.find("🔁 [FastAPI] my_model@A hot-swapped to v3 (run_id=run-abc) · dev")
    assert "previous" in str(alerts.find("hot-swapped")[0].payload["blocks"])
    body = client.post("/predict", json={"features": FEATURES}).json()
    assert body["version"] == 3 and body["prediction"] == pytest.approx(expected(registry, 3))
    assert client.get("/variants").json()["variants"][0]["version"] == 3


def test_reload_to_an_explicit_version_by_query_or_body(client: TestClient, registry: FileRegistry) -> None:
    assert client.post("/variant/A/reload?version=2", headers=AUTH).json()["version"] == 2
    assert client.post("/variant/A/reload", headers=AUTH, json={"version": 1}).json()["version"] == 1
    same = client.post("/variant/A/reload?version=2", headers=AUTH, json={"version": 2})
    assert same.json()["version"] == 2
    both = client.post("/variant/A/reload?version=1", headers=AUTH, json={"version": 2})
    assert both.status_code == 422
    for bad in ("?version=0", "?version=x", "?version=-1"):
        assert client.post(f"/variant/A/reload{bad}", headers=AUTH).status_code == 422
    assert client.post("/variant/A/reload", headers=AUTH, json={"version": "1"}).status_code == 422
    assert client.post("/variant/A/reload", headers=AUTH, json={"verison": 1}).status_code == 422


def test_an_alias_published_only_in_the_registry_can_be_loaded(
    client: TestClient, alerts: Any, registry: FileRegistry
) -> None:
    registry.set_alias(MODEL, "C", 2)
    assert client.post("/variant/C/reload", headers=AUTH).status_code == 200
    assert client.post("/predict", json={"features": FEATURES, "variant": "C"}).json()["variant"] == "C"
    assert [v["alias"] for v in client.get("/variants").json()["variants"]] == ["A", "B", "C"]


# -- refusals and failures ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alias", ["Z", "%3C%21channel%3E", "<!here>", "a%20b", "..", "x" * 80])
def test_unknown_aliases_are_404_without_alert_or_echo(client: TestClient, alerts: Any, alias: str) -> None:
    r = client.post(f"/variant/{alias}/reload", headers=AUTH)
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown alias"} or r.json() == {"detail": "Not Found"}
    assert not alerts.find("hot-swap")


def test_a_missing_version_is_404_with_a_failure_alert_and_the_old_model_keeps_serving(
    client: TestClient, alerts: Any
) -> None:
    r = client.post("/variant/A/reload?version=99", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["detail"] == "reload failed: my_model v99 does not exist"
    assert alerts.find("❌ [FastAPI] hot-swap of my_model@A to v99 failed: NotFoundError: my_model v99 does not exist")
    assert client.post("/predict", json={"features": FEATURES}).json()["version"] == 1
    assert client.get("/health").json()["status"] == "ok"  # a failed swap is not a missing variant


@pytest.mark.parametrize(
    ("damage", "detail"),
    [
        ("corrupt", "weights: not valid JSON"),
        ("wrong_shape", "weights.coef must be a list of 3 numbers"),
        ("failed", "is FAILED, not READY"),
        ("meta", "metadata: not valid JSON"),
    ],
)
def test_a_bad_version_is_409_and_alerted(
    client: TestClient, alerts: Any, registry: FileRegistry, damage: str, detail: str
) -> None:
    new = registry.register(MODEL, demo_weights(3))
    vdir = registry.root / MODEL / "versions" / str(new.version)
    if damage == "corrupt":
        (vdir / "weights.json").write_text('{"features": ["x1"')
    elif damage == "wrong_shape":
        (vdir / "weights.json").write_text('{"features": ["x1", "x2", "x3"], "coef": [1], "intercept": 0}')
    elif damage == "failed":
        registry.mark_failed(MODEL, new.version)
    else:
        (vdir / "meta.json").write_text("\x00\x01")
    r = client.post(f"/variant/B/reload?version={new.version}", headers=AUTH)
    assert r.status_code == 409
    assert detail in r.json()["detail"]
    [failure] = alerts.find("hot-swap of my_model@B")
    assert detail in failure.text or detail in str(failure.payload)
    assert client.post("/predict", json={"features": FEATURES, "variant": "B"}).json()["version"] == 2


def test_a_registry_alias_that_vanished(client: TestClient, alerts: Any, registry: FileRegistry) -> None:
    (registry.root / MODEL / "aliases.json").unlink()
    r = client.post("/variant/B/reload", headers=AUTH)
    assert r.status_code == 404
    assert r.json()["detail"] == "reload failed: registry has no alias my_model@B"
    assert client.get("/health").json()["status"] == "ok"  # B keeps serving what it had


# -- racing predictions -------------------------------------------------------------------------------------


def test_reloads_racing_predictions_never_fail_or_mix_versions(
    client: TestClient, alerts: Any, registry: FileRegistry
) -> None:
    """Every prediction answers 200 and its number is exactly what the version it reports computes."""
    want = {v: expected(registry, v) for v in (1, 2)}
    stop = threading.Event()
    failures: list[str] = []
    seen: set[int] = set()

    def predict_loop() -> None:
        while not stop.is_set():
            r = client.post("/predict", json={"features": FEATURES})
            body = r.json()
            if r.status_code != 200 or body["prediction"] != pytest.approx(want[body["version"]]):
                failures.append(r.text)
            seen.add(body.get("version", -1))

    threads = [threading.Thread(target=predict_loop) for _ in range(4)]
    for t in threads:
        t.start()
    try:
        for i in range(40):
            r = client.post(f"/variant/A/reload?version={1 + i % 2}", headers=AUTH)
            assert r.status_code == 200
    finally:
        stop.set()
        for t in threads:
            t.join(10)
    assert failures == []
    assert seen == {1, 2}
    assert len(alerts.find("hot-swapped")) == 40


def test_swapping_back_and_forth_is_reported_at_once_not_merged(
    make_client: ClientFactory, slack: Any, deliver_to: Any
) -> None:
    """Storm control must not hold back a swap that looks like an earlier one: Slack would show a stale
    version for up to the dedup window."""
    deliver_to(slack.url, dedup_window=60)
    with make_client() as c:
        for version in (2, 1, 2):
            assert c.post(f"/variant/A/reload?version={version}", headers=AUTH).status_code == 200

        def swaps(s: Any) -> list[str]:
            return [line for t in s.delivered_texts() for line in t.splitlines() if "hot-swapped" in line]

        assert slack.wait_for(lambda s: len(swaps(s)) == 3, timeout=10), swaps(slack)
    assert [line.split(" to ")[1][:2] for line in swaps(slack)] == ["v2", "v1", "v2"]
