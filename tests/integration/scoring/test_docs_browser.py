"""Swagger UI and ReDoc render in headless Chromium with the network cut off: every asset comes from the service."""

from __future__ import annotations

import sys
from pathlib import Path

from scoring_server import ScoringServer, server_env
from selenium.webdriver.support.ui import WebDriverWait

from driftloop.registry import Registry

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "dashboard"))
from browser import chromium, console_errors

KEY = "docs-key"
REDOC_LOGO = "cdn.redoc.ly/redoc/logo-mini.svg"


def test_swagger_ui_and_redoc_render_offline_and_show_the_models_once_authorized(
    start_server: type[ScoringServer], scoring_registry: Registry, tmp_path: Path
) -> None:
    server = start_server(tmp_path, server_env(scoring_registry, tmp_path, DRIFTLOOP_AUTH__API_KEYS=KEY))
    server.start()
    with chromium(tmp_path / "profile", offline=True, serve_loopback=True) as driver:
        driver.get(f"{server.url}/docs")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements("css selector", ".swagger-ui .opblock"))
        page = driver.find_element("css selector", ".swagger-ui").text
        assert "driftloop scoring" in page
        assert "/v1/models/{name}/predict" in page
        assert "income" not in driver.execute_script("return JSON.stringify(window.ui.specSelectors.specJson())")
        driver.save_screenshot(str(tmp_path / "swagger.png"))

        # "Authorize" stores the key in the browser; after a reload the document is fetched with it.
        driver.execute_script(
            "localStorage.setItem('authorized', JSON.stringify({apiKey: {name: 'apiKey', value: arguments[0],"
            " schema: {type: 'apiKey', in: 'header', name: 'X-API-Key'}}}))",
            KEY,
        )
        driver.refresh()
        WebDriverWait(driver, 30).until(lambda d: d.find_elements("css selector", ".swagger-ui .opblock"))
        spec = "return JSON.stringify(window.ui.specSelectors.specJson())"
        WebDriverWait(driver, 30).until(lambda d: "income" in d.execute_script(spec))
        assert console_errors(driver) == []

        driver.get(f"{server.url}/redoc")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements("css selector", "[data-section-id]"))
        assert "driftloop scoring" in driver.find_element("tag name", "body").text
        driver.save_screenshot(str(tmp_path / "redoc.png"))
        # ReDoc's sidebar footer links its maker's logo from its CDN, and hides it when it fails to
        # load: the one request that leaves, and the page does not depend on it.
        assert [e for e in console_errors(driver) if REDOC_LOGO not in e] == []
