"""The model service's ``/docs`` in a real headless Chromium with the network cut off: the Swagger UI assets
are served by the service itself (fastapi-offline), so the page renders its operations."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from demo import browser
from fastapi_app.seed import seed_registry
from tests.support.chrome import require_chromium
from tests.support.service_helpers import ADMIN_TOKEN, MODEL, ServiceProcess, running_service

pytestmark = pytest.mark.browser
WAIT = 30  # seconds; generous for a shared, noisy machine
EXTERNAL = re.compile(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", re.IGNORECASE)


@pytest.fixture(scope="module")
def offline_chrome() -> Iterator[Any]:
    require_chromium()
    with browser.headless_chrome(offline=True) as driver:
        yield driver


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    root = tmp_path_factory.mktemp("docs")
    seed_registry(root / "reg", MODEL)
    env = {"MODEL_REGISTRY_DIR": str(root / "reg"), "MODEL_NAME": MODEL, "FASTAPI_TOKEN": ADMIN_TOKEN}
    with running_service(env, root) as svc:
        yield svc


def test_the_docs_page_references_no_cdn(service: ServiceProcess) -> None:
    html = httpx.get(service.base + "/docs", timeout=10).text
    assert not EXTERNAL.search(html), "/docs loads something from another host"
    assets = re.findall(r'(?:src|href)="(/[^"]+)"', html)
    assert len(assets) == 3  # the CSS, the JS bundle and the favicon
    for asset in assets:
        assert httpx.get(service.base + asset, timeout=10).status_code == 200, asset
    # ReDoc's bundle fetches its logo from a CDN, so the service offers only Swagger UI.
    assert httpx.get(service.base + "/redoc", timeout=10).status_code == 404


def test_swagger_ui_renders_the_operations_offline(service: ServiceProcess, offline_chrome: Any) -> None:
    driver = offline_chrome
    driver.get(service.base + "/docs")
    WebDriverWait(driver, WAIT).until(lambda d: len(d.find_elements(By.CSS_SELECTOR, ".opblock")) >= 5)
    operations = {
        (block.find_element(By.CSS_SELECTOR, ".opblock-summary-method").text, path.get_attribute("data-path"))
        for block in driver.find_elements(By.CSS_SELECTOR, ".opblock")
        for path in block.find_elements(By.CSS_SELECTOR, "[data-path]")
    }
    assert {("POST", "/predict"), ("GET", "/health"), ("POST", "/variant/{alias}/reload")} <= operations
    assert "fastapi_app model service" in driver.find_element(By.CSS_SELECTOR, ".info .title").text
    loaded = driver.execute_script("return performance.getEntriesByType('resource').map(e => e.name)")
    assert loaded and all(url.startswith(service.base + "/") for url in loaded), loaded


def test_the_offline_chrome_really_is_offline(offline_chrome: Any, tmp_path: Path) -> None:
    """The check above can fail: FastAPI's stock /docs (CDN assets) renders no operation in this browser."""
    from fastapi.openapi.docs import get_swagger_ui_html

    stock = get_swagger_ui_html(openapi_url="/openapi.json", title="stock").body.decode()
    assert "cdn.jsdelivr.net" in stock
    page = tmp_path / "stock.html"
    page.write_text(stock)
    offline_chrome.get(page.as_uri())
    assert offline_chrome.execute_script("return typeof SwaggerUIBundle") == "undefined"
    assert not offline_chrome.find_elements(By.CSS_SELECTOR, ".opblock")
