"""The pieces under the endpoints: the linear model, routing between variants, the atomic variant store."""

from __future__ import annotations

import itertools
import math

import pytest

from fastapi_app.model import LinearModel, MissingFeaturesError, NonFiniteOutputError
from fastapi_app.registry import CorruptEntryError
from fastapi_app.routing import Router, VariantUnavailableError
from fastapi_app.settings import ServiceSettings
from fastapi_app.variants import Variant, VariantStore

MODEL = LinearModel.from_weights({"features": ["x1", "x2"], "coef": [2.0, -1.0], "intercept": 0.5})


def variant(alias: str, version: int = 1) -> Variant:
    return Variant.create(alias, version, MODEL, f"run-{alias}")


def test_linear_model_computes_intercept_plus_weighted_sum() -> None:
    assert MODEL.predict({"x1": 3.0, "x2": 4.0}) == 0.5 + 6.0 - 4.0
    assert MODEL.predict({"x1": 1.0, "x2": 0.0, "extra": 99.0}) == 2.5  # extra inputs are ignored


def test_missing_features_are_named() -> None:
    with pytest.raises(MissingFeaturesError, match="x2"):
        MODEL.predict({"x1": 1.0})


@pytest.mark.parametrize("inputs", [{"x1": 1e308, "x2": -1e308}, {"x1": math.inf, "x2": 0.0}])
def test_overflow_is_an_error_not_a_silent_inf(inputs: dict[str, float]) -> None:
    with pytest.raises(NonFiniteOutputError):
        MODEL.predict(inputs)


def test_invalid_weights_never_build_a_model() -> None:
    with pytest.raises(CorruptEntryError):
        LinearModel.from_weights({"features": ["x"], "coef": [1.0, 2.0], "intercept": 0})


def test_blue_green_sends_everything_to_the_default_alias() -> None:
    router = Router("A", "blue_green", canary_alias="B", canary_percent=50, rand=lambda: 0.0)
    variants = {"A": variant("A"), "B": variant("B")}
    assert {router.choose(variants).variant.alias for _ in range(20)} == {"A"}
    assert router.choose(variants).reason == "default"


def test_canary_sends_the_configured_share_to_the_other_alias() -> None:
    draws = itertools.cycle(i / 100 for i in range(100))  # an even spread over [0, 1)
    router = Router("A", "canary", canary_alias="B", canary_percent=25, rand=lambda: next(draws))
    variants = {"A": variant("A"), "B": variant("B")}
    routes = [router.choose(variants) for _ in range(1000)]
    assert sum(r.variant.alias == "B" for r in routes) == 250
    assert {r.reason for r in routes if r.variant.alias == "B"} == {"canary"}


def test_canary_with_real_randomness_is_roughly_the_share() -> None:
    router = Router("A", "canary", canary_alias="B", canary_percent=20)
    variants = {"A": variant("A"), "B": variant("B")}
    share = sum(router.choose(variants).variant.alias == "B" for _ in range(5000)) / 5000
    assert 0.15 < share < 0.25


def test_routing_falls_back_to_what_is_loaded() -> None:
    router = Router("A", "canary", canary_alias="B", canary_percent=100)
    assert router.choose({"A": variant("A")}).reason == "fallback"  # canary target missing: default serves
    only_b = router.choose({"B": variant("B")}, None)
    assert only_b.variant.alias == "B"
    assert Router("A").choose({"C": variant("C")}).reason == "fallback"
    with pytest.raises(VariantUnavailableError):
        Router("A").choose({})


def test_forcing_a_variant() -> None:
    router = Router("A")
    variants = {"A": variant("A"), "B": variant("B")}
    assert router.choose(variants, "B").variant.alias == "B"
    with pytest.raises(VariantUnavailableError):
        router.choose(variants, "C")


def test_store_swap_returns_previous_and_old_snapshots_never_change() -> None:
    store = VariantStore()
    assert store.swap(variant("A", 1)) is None
    before = store.snapshot()
    previous = store.swap(variant("A", 2))
    assert previous is not None and previous.version == 1
    assert before["A"].version == 1  # an in-flight request keeps its snapshot
    assert store.snapshot()["A"].version == 2
    with pytest.raises(TypeError):
        store.snapshot()["A"] = variant("A", 3)  # type: ignore[index]


def test_store_errors_are_only_kept_for_aliases_that_do_not_serve() -> None:
    store = VariantStore()
    store.record_error("B", "weights missing")
    assert store.errors() == {"B": "weights missing"}
    store.swap(variant("B"))
    assert store.errors() == {}
    store.record_error("B", "reload failed")  # B still serves its old model: not an error of health
    assert store.errors() == {}


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MODEL_NAME", "churn")
    monkeypatch.setenv("MODEL_ALIASES", "blue, green")
    monkeypatch.setenv("DEFAULT_ALIAS", "blue")
    monkeypatch.setenv("ALIAS_SELECTION_MODE", "canary")
    monkeypatch.setenv("CANARY_PERCENT", "5")
    monkeypatch.setenv("FASTAPI_TOKEN", "tok-secret")
    s = ServiceSettings()
    assert (s.model_name, s.model_aliases, s.default_alias) == ("churn", ("blue", "green"), "blue")
    assert (s.alias_selection_mode, s.canary_percent, s.canary_target) == ("canary", 5.0, "green")
    assert s.reload_auth == "token"
    assert "tok-secret" not in repr(s) and "tok-secret" not in str(s.model_dump())


@pytest.mark.parametrize(
    ("env", "value"),
    [
        ("ALIAS_SELECTION_MODE", "red_black"),
        ("CANARY_PERCENT", "150"),
        ("MODEL_NAME", "../x"),
        ("DEFAULT_ALIAS", "<!here>"),
    ],
)
def test_invalid_settings_fail_loudly(monkeypatch: pytest.MonkeyPatch, env: str, value: str) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(ValueError):
        ServiceSettings()


def test_reload_auth_modes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FASTAPI_TOKEN", raising=False)
    monkeypatch.delenv("ALLOW_UNAUTHENTICATED_RELOAD", raising=False)
    assert ServiceSettings().reload_auth == "disabled"
    monkeypatch.setenv("FASTAPI_TOKEN", "  ")
    assert ServiceSettings().reload_auth == "disabled"  # a blank token is no token
    monkeypatch.setenv("ALLOW_UNAUTHENTICATED_RELOAD", "true")
    assert ServiceSettings().reload_auth == "open"
    monkeypatch.setenv("FASTAPI_TOKEN", "t")
    assert ServiceSettings().reload_auth == "token"  # a token always wins over the demo opt-in


def test_command_line_arguments_win_over_host_and_port(monkeypatch: pytest.MonkeyPatch) -> None:
    from fastapi_app.__main__ import parse_args

    monkeypatch.delenv("HOST", raising=False)
    monkeypatch.delenv("PORT", raising=False)
    assert (parse_args([]).host, parse_args([]).port) == ("127.0.0.1", 8000)
    monkeypatch.setenv("HOST", "0.0.0.0")
    monkeypatch.setenv("PORT", "9001")
    assert (parse_args([]).host, parse_args([]).port) == ("0.0.0.0", 9001)
    assert parse_args(["--port", "9002", "--host", "127.0.0.2"]).port == 9002
