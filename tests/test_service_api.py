"""The HTTP API of the model service: each endpoint, routing, and bad input."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from fastapi_app.model import LinearModel
from fastapi_app.registry import FileRegistry
from tests.support.service_fixtures import ClientFactory
from tests.support.service_helpers import ADMIN_TOKEN, FEATURES, expected


def test_livez_is_cheap_and_constant(client: TestClient) -> None:
    assert client.get("/livez").json() == {"status": "alive"}


def test_health_ok_lists_loaded_variants(client: TestClient) -> None:
    body = client.get("/health").json()
    assert body["status"] == "ok"
    assert (body["loaded"], body["missing"], body["versions"]) == (["A", "B"], [], {"A": 1, "B": 2})
    assert body["mode"] == "blue_green" and body["default_alias"] == "A"


def test_variants_lists_versions_and_run_ids(client: TestClient) -> None:
    body = client.get("/variants").json()
    assert [(v["alias"], v["version"], v["run_id"]) for v in body["variants"]] == [
        ("A", 1, "seed-A"),
        ("B", 2, "seed-B"),
    ]
    assert body["variants"][0]["features"] == ["x1", "x2", "x3"]


def test_predict_computes_with_the_default_variant(client: TestClient, registry: FileRegistry) -> None:
    r = client.post("/predict", json={"features": FEATURES})
    assert r.status_code == 200
    body = r.json()
    assert (body["variant"], body["version"], body["routed_by"], body["model"]) == (
        "A",
        1,
        "default",
        "my_model",
    )
    assert body["prediction"] == pytest.approx(expected(registry, 1))


def test_predict_can_force_a_variant_by_header_or_field(client: TestClient, registry: FileRegistry) -> None:
    by_header = client.post("/predict", json={"features": FEATURES}, headers={"X-Variant": "B"}).json()
    by_field = client.post("/predict", json={"features": FEATURES, "variant": "B"}).json()
    for body in (by_header, by_field):
        assert (body["variant"], body["version"], body["routed_by"]) == ("B", 2, "forced")
        assert body["prediction"] == pytest.approx(expected(registry, 2))
    assert by_header["prediction"] != pytest.approx(expected(registry, 1))


def test_predict_echoes_a_plain_request_id_and_replaces_a_hostile_one(client: TestClient) -> None:
    ok = client.post("/predict", json={"features": FEATURES}, headers={"X-Request-ID": "req-42"})
    assert ok.json()["request_id"] == "req-42"
    assert ok.headers["x-request-id"] == "req-42"
    hostile = client.post("/predict", json={"features": FEATURES}, headers={"X-Request-ID": "<!channel> x"})
    assert "<" not in hostile.json()["request_id"] and len(hostile.json()["request_id"]) == 32


@pytest.mark.parametrize(("percent", "share_b"), [(0, 0.0), (100, 1.0)])
def test_canary_mode_routes_the_configured_percent(
    make_client: ClientFactory, alerts: Any, percent: int, share_b: float
) -> None:
    with make_client(ALIAS_SELECTION_MODE="canary", CANARY_PERCENT=percent) as c:
        variants = [c.post("/predict", json={"features": FEATURES}).json()["variant"] for _ in range(30)]
        assert variants.count("B") / 30 == share_b
        assert c.get("/variants").json()["canary_alias"] == "B"


def test_canary_mode_splits_real_traffic(make_client: ClientFactory, alerts: Any) -> None:
    with make_client(ALIAS_SELECTION_MODE="canary", CANARY_PERCENT=30) as c:
        routes = [c.post("/predict", json={"features": FEATURES}).json()["routed_by"] for _ in range(300)]
    assert 45 <= routes.count("canary") <= 135  # 30 % of 300 = 90, far from both ends


# -- bad input -------------------------------------------------------------------------------------------
JSON = {"content-type": "application/json"}


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"{not json", 400),
        (b'{"features": {"x1": 1.0,', 400),
        (b"", 422),
        (b"[1, 2, 3]", 422),
        (b'"text"', 422),
        (b'{"features": {"x1": "1.0", "x2": 2, "x3": 3}}', 422),
        (b'{"features": {"x1": true, "x2": 2, "x3": 3}}', 422),
        (b'{"features": {"x1": null, "x2": 2, "x3": 3}}', 422),
        (b'{"features": {"x1": NaN, "x2": 2, "x3": 3}}', 422),
        (b'{"features": {"x1": Infinity, "x2": 2, "x3": 3}}', 422),
        (b'{"features": [1, 2, 3]}', 422),
        (b'{"features": {}}', 422),
        (b'{"features": {"x1": 1, "x2": 2, "x3": 3}, "admin": true}', 422),
        (b'{"features": {"x1": 1, "x2": 2, "x3": 3}, "variant": 7}', 422),
    ],
)
def test_bad_predict_bodies_get_clear_client_errors(client: TestClient, alerts: Any, body: bytes, status: int) -> None:
    r = client.post("/predict", content=body, headers=JSON)
    assert r.status_code == status, r.text
    assert r.json()["detail"]
    assert client.post("/predict", json={"features": FEATURES}).status_code == 200  # still serving
    assert not alerts.find("prediction error")  # a client's mistake is not an operator's alert


def test_validation_errors_do_not_echo_the_input(client: TestClient) -> None:
    secret = "sk-live-should-not-come-back"
    r = client.post("/predict", json={"features": {"x1": secret}, "token": secret})
    assert r.status_code == 422
    assert secret not in r.text
    assert {tuple(e["loc"]) for e in r.json()["detail"]} >= {("body", "features", "x1"), ("body", "token")}


def test_missing_features_are_named(client: TestClient) -> None:
    r = client.post("/predict", json={"features": {"x1": 1.0}})
    assert r.status_code == 422
    assert r.json()["detail"] == "missing features: x2, x3"


def test_huge_bodies_are_refused_before_being_read(client: TestClient) -> None:
    declared = client.post("/predict", content=b"x" * 1_100_000, headers=JSON)
    assert declared.status_code == 413

    def chunks() -> Any:  # no Content-Length: the limit is enforced while streaming
        for _ in range(40):
            yield b" " * 65_536

    streamed = client.post("/predict", content=chunks(), headers=JSON)
    assert streamed.status_code == 413
    assert "too large" in streamed.json()["detail"]
    assert client.post("/predict", json={"features": FEATURES}).status_code == 200


def test_body_limit_is_configurable(make_client: ClientFactory, alerts: Any) -> None:
    with make_client(MAX_BODY_BYTES=2048) as c:
        many = {f"f{i}": 1.0 for i in range(200)} | FEATURES
        assert c.post("/predict", json={"features": many}).status_code == 413
        assert c.post("/predict", json={"features": FEATURES}).status_code == 200


@pytest.mark.parametrize("alias", ["C", "<!channel>", "<@U123>", "a" * 64])
def test_forcing_an_unknown_variant_is_404_without_echo(client: TestClient, alerts: Any, alias: str) -> None:
    r = client.post("/predict", json={"features": FEATURES}, headers={"X-Variant": alias})
    assert r.status_code == 404
    assert r.json() == {"detail": "unknown variant"}
    assert client.post("/predict", json={"features": FEATURES, "variant": alias}).status_code == 404
    assert alerts.texts == ["🚀 [FastAPI] started: my_model@A, my_model@B · dev"]


def test_an_overlong_variant_header_is_a_client_error(client: TestClient) -> None:
    assert client.post("/predict", json={"features": FEATURES}, headers={"X-Variant": "a" * 65}).status_code == 422


# -- unexpected errors -----------------------------------------------------------------------------------
def test_a_model_failure_is_a_clean_500_and_one_alert(client: TestClient, alerts: Any) -> None:
    overflow = {"x1": 1e308, "x2": -1e308, "x3": 1e308}
    r = client.post("/predict", json={"features": overflow}, headers={"X-Request-ID": "req-7"})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal error while predicting", "request_id": "req-7"}
    [sent] = alerts.find("prediction error")
    assert sent.text == (
        "❌ [FastAPI] prediction error on my_model@A: NonFiniteOutputError: model output is not a finite number "
        "(overflow) · dev"
    )
    fields = str(sent.payload["blocks"])
    assert "req-7" in fields and "my_model" in fields
    assert client.post("/predict", json={"features": FEATURES}).status_code == 200


def test_repeated_identical_failures_share_one_dedup_key(client: TestClient, alerts: Any) -> None:
    """alerts_lib's storm control merges alerts by dedup key; request ids differ but the key must not."""
    overflow = {"x1": 1e308, "x2": -1e308, "x3": 1e308}
    for _ in range(5):
        assert client.post("/predict", json={"features": overflow}).status_code == 500
    keys = {a.alert.dedup_key for a in alerts.find("prediction error")}
    assert len(alerts.find("prediction error")) == 5 and len(keys) == 1


def test_unexpected_exception_text_is_escaped_in_the_alert_and_hidden_from_the_client(
    client: TestClient, alerts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(self: LinearModel, inputs: Any) -> float:
        raise RuntimeError(f"<!channel> <https://evil.example|click> token={ADMIN_TOKEN}")

    monkeypatch.setattr(LinearModel, "predict", broken)
    r = client.post("/predict", json={"features": FEATURES}, headers={"X-Variant": "B"})
    assert r.status_code == 500
    assert ADMIN_TOKEN not in r.text and "channel" not in r.text
    [sent] = alerts.find("prediction error")
    assert "<!channel>" not in str(sent.payload) and "&lt;!channel&gt;" in sent.text
    assert "<https://evil" not in str(sent.payload)
    assert "on my_model@B" in sent.text


def test_an_unhandled_exception_is_the_500_with_its_request_id_and_one_alert(
    client: TestClient, alerts: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any bug outside the prediction path: alerts_lib's integration alerts with the route template."""
    from fastapi_app.service import ModelService

    def broken(self: ModelService, alias: str, version: int | None = None) -> Any:
        raise RuntimeError("registry exploded")

    monkeypatch.setattr(ModelService, "reload", broken)
    r = client.post("/variant/A/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "X-Request-ID": "req-9"})
    assert r.status_code == 500
    assert r.json() == {"detail": "internal server error", "request_id": "req-9"}
    [sent] = [a for a in alerts if a.alert is not None and a.alert.name == "UnhandledException"]
    assert sent.text == (
        "❌ [FastAPI] unhandled exception on POST /variant/{alias}/reload: RuntimeError: registry exploded · dev"
    )
    fields = dict(sent.alert.fields)
    assert (fields["route"], fields["method"], fields["request_id"]) == ("/variant/{alias}/reload", "POST", "req-9")
    # Without a request id header, the alert and the 500 body still agree.
    r = client.post("/variant/B/reload", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    generated = r.json()["request_id"]
    assert len(generated) == 32 and dict(alerts[-1].alert.fields)["request_id"] == generated


def test_metrics_are_prometheus_text(client: TestClient) -> None:
    r = client.get("/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain")
    assert 'alerts_lib_alerts_total{destination="default",outcome="delivered"}' in r.text
    assert "alerts_lib_queue_depth" in r.text and "/metrics" not in str(client.get("/openapi.json").json())
