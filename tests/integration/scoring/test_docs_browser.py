"""Swagger UI and ReDoc render in headless Chromium with the network cut off: every asset comes from the service."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

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


def test_try_it_out_on_each_models_operations_is_answered_2xx(
    start_server: type[ScoringServer], scoring_registry: Registry, tmp_path: Path
) -> None:
    """Swagger UI as a user drives it: expand, "Try it out", "Execute" with the pre-filled example."""
    server = start_server(tmp_path, server_env(scoring_registry, tmp_path))
    server.start()
    answered: dict[str, str] = {}
    with chromium(tmp_path / "profile", offline=True, serve_loopback=True) as driver:
        driver.get(f"{server.url}/docs")
        WebDriverWait(driver, 30).until(lambda d: d.find_elements("css selector", ".swagger-ui .opblock"))
        for model in ("credit", "purpose", "rate"):  # binary, multiclass, regression
            for route in ("predict", "feedback"):
                path = f"/v1/models/{model}/{route}"
                block = _operation(driver, path)
                block.find_element("css selector", ".opblock-summary").click()
                _inside(driver, block, ".try-out__btn").click()
                block.find_element("css selector", ".execute").click()
                answered[path] = _inside(driver, block, LIVE_STATUS).text.strip()
                if model == "purpose" and route == "feedback":
                    block.screenshot(str(tmp_path / "swagger-purpose-feedback.png"))
        assert console_errors(driver) == []
    print(f"swagger screenshot: {tmp_path / 'swagger-purpose-feedback.png'}; answers: {answered}")
    assert answered == {path: answered[path] for path in answered if answered[path].startswith("2")}, answered
    assert len(answered) == 6


LIVE_STATUS = ".live-responses-table .response .response-col_status"


def _inside(driver: Any, block: Any, selector: str) -> Any:
    """The element of ``block`` once Swagger UI has drawn it."""
    WebDriverWait(driver, 30).until(lambda _: block.find_elements("css selector", selector))
    return block.find_element("css selector", selector)


def _operation(driver: Any, path: str) -> Any:
    """The operation block of ``path`` under its model's tag (deep links open the tag)."""
    for block in driver.find_elements("css selector", ".opblock"):
        if block.find_element("css selector", ".opblock-summary-path").get_attribute("data-path") == path:
            driver.execute_script("arguments[0].scrollIntoView()", block)
            return block
    raise AssertionError(f"no operation {path} in Swagger UI")
