"""The dashboard in headless Chromium, against the retrain-controller over a store filled by the real loop.

Checks what a reader would: the page loads without console errors, every chart is drawn with
data, the version timeline shows the promotion (on every chart), and the time range selector
changes what is shown. A screenshot is written for a human to look at.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from browser import chart_traces, chromium, console_errors, wait_rendered
from dashboard_loop import PHASE2_REQUESTS, TOKEN, LoopStore

TIME_CHARTS = ("chart-volume", "chart-latency", "chart-predictions", "chart-performance", "chart-drift-heatmap")


def _shapes(driver: Any, chart: str) -> list[dict[str, Any]]:
    shapes: list[dict[str, Any]] = driver.execute_script(
        "return (document.getElementById(arguments[0]).layout.shapes || []).map(s => ({x0: s.x0, type: s.type}))", chart
    )
    return shapes


def test_every_chart_renders_with_data_and_marks_the_promotion(
    loop_store: LoopStore, controller_url: str, artefacts: Path, tmp_path: Path
) -> None:
    with chromium(tmp_path / "profile") as driver:
        driver.get(f"{controller_url}/dashboard?token={TOKEN}")  # redirects to the first model's page
        wait_rendered(driver)
        assert driver.current_url.startswith(f"{controller_url}/dashboard/models/credit")

        charts = chart_traces(driver)
        assert len(charts) == 7
        for chart, drawn in charts.items():
            assert drawn["traces"] >= 1, f"{chart} has no trace: {drawn}"
            assert drawn["points"] >= 1, f"{chart} has no data: {drawn}"
            assert drawn["svg"] >= 1, f"{chart} drew no trace: {drawn}"

        names = driver.execute_script("return document.getElementById('chart-timeline').data.map(t => t.name)")
        assert "retrain: promoted" in names
        assert "champion version" in names
        versions = driver.execute_script(
            "return document.getElementById('chart-timeline').data.find(t => t.name === 'champion version').y"
        )
        assert versions[0] == 1
        assert versions[-1] == 2
        for chart in TIME_CHARTS:
            assert len(_shapes(driver, chart)) == 1, f"{chart} does not mark the promotion"
        jobs = driver.find_element("id", "jobs").text
        assert "promoted" in jobs
        assert "drift rule feature-drift" in jobs
        assert "CI" in jobs

        screenshot = artefacts / "dashboard.png"
        driver.save_screenshot(str(screenshot))
        print(f"dashboard screenshot: {screenshot}")
        assert console_errors(driver) == []


def test_time_range_selector_changes_what_is_shown(loop_store: LoopStore, controller_url: str, tmp_path: Path) -> None:
    with chromium(tmp_path / "profile") as driver:
        driver.get(f"{controller_url}/dashboard/models/credit?token={TOKEN}")
        wait_rendered(driver)
        everything = driver.find_element("id", "summary").text
        assert f"{loop_store.requests} requests" in everything
        assert "1 champion changes" in everything

        since = loop_store.phase2_start.strftime("%Y-%m-%dT%H:%M:%S.%f")[:23]
        driver.execute_script("document.getElementById('since').value = arguments[0]", since)
        driver.find_element("id", "apply").click()
        wait_rendered(driver, renders=2)

        after = driver.find_element("id", "summary").text
        # Only the shifted traffic scored by credit@2 is left; the promotion happened before it.
        assert f" {PHASE2_REQUESTS} requests" in after, after
        assert "0 champion changes" in after, after
        assert _shapes(driver, "chart-volume") == []
        first = driver.execute_script("return document.getElementById('chart-volume').data[0].x[0]")
        assert first >= loop_store.phase2_start.strftime("%Y-%m-%d %H:%M:%S")
        assert console_errors(driver) == []
