"""Headless Chromium (Debian's ``chromium`` + ``chromium-driver``) driven by Selenium, for the dashboard tests.

Installed by tools/setup.d/40-chromium.sh. Offline mode points every request at a closed proxy
port, so a page that needed the network would fail to load its scripts.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM, CHROMEDRIVER = "/usr/bin/chromium", "/usr/bin/chromedriver"


@contextmanager
def chromium(profile: Path, *, offline: bool = False, serve_loopback: bool = False) -> Iterator[webdriver.Chrome]:
    """``offline``: every request goes to a closed proxy port; ``serve_loopback``: except those to 127.0.0.1."""
    for binary in (CHROMIUM, CHROMEDRIVER):
        if shutil.which(binary) is None:
            raise RuntimeError(
                f"{binary} is missing: run tools/setup.d/40-chromium.sh (apt-get install chromium chromium-driver)"
            )
    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--window-size=1500,2400",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    if offline:
        options.add_argument("--proxy-server=127.0.0.1:9")
        options.add_argument("--proxy-bypass-list=" + ("127.0.0.1" if serve_loopback else "<-loopback>"))
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    try:
        yield driver
    finally:
        driver.quit()


def wait_rendered(driver: webdriver.Chrome, renders: int = 1, within_s: float = 30) -> None:
    """Until the page says it has drawn every chart ``renders`` times (or failed: then say why)."""

    def done(d: Any) -> bool:
        state = d.execute_script("return document.body.dataset.state || ''")
        if state == "error":
            raise AssertionError(f"the page failed: {d.find_element('id', 'status').text}")
        return bool(state == "ready" and int(d.execute_script("return document.body.dataset.renders || 0")) >= renders)

    WebDriverWait(driver, within_s).until(done)


def chart_traces(driver: webdriver.Chrome) -> dict[str, dict[str, Any]]:
    """Per chart div: how many Plotly traces have data, how many points, and the SVG trace elements drawn."""
    script = """
      const out = {};
      for (const div of document.querySelectorAll('.chart')) {
        const data = div.data || [];
        const points = data.reduce((n, tr) => n + ((tr.z ? tr.z.flat().length : (tr.x || []).length) || 0), 0);
        out[div.id] = {
          traces: data.length,
          points: points,
          svg: div.querySelectorAll('g.trace, g.hm, image').length,
          text: div.innerText,
        };
      }
      return out;
    """
    result: dict[str, dict[str, Any]] = driver.execute_script(script)
    return result


def console_errors(driver: webdriver.Chrome) -> list[str]:
    log: list[dict[str, Any]] = driver.get_log("browser")  # type: ignore[no-untyped-call]
    return [f"{entry['level']}: {entry['message']}" for entry in log if entry["level"] == "SEVERE"]
