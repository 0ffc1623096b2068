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

TIME_CHARTS = (
    "chart-volume",
    "chart-latency",
    "chart-predictions",
    "chart-performance",
    "chart-drift-heatmap",
    "chart-drift-scores",
    "chart-timeline",
)
# Every rectangle a reader must see whole: Plotly's mode bar against each annotation of its chart.
OVERLAPS = """
  const hits = [];
  let bars = 0;
  const meet = (a, b) => a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
  for (const div of document.querySelectorAll('.chart')) {
    const bar = div.querySelector('.modebar');
    if (!bar) continue;
    bars += 1;
    const box = bar.getBoundingClientRect();
    for (const note of div.querySelectorAll('.annotation')) {
      if (meet(box, note.getBoundingClientRect())) hits.push(div.id + ': ' + note.textContent);
    }
  }
  return {bars, hits};
"""


def _shapes(driver: Any, chart: str, dash: str = "dash") -> list[dict[str, Any]]:
    """The chart's vertical markers: champion changes are dashed, rule firings dotted."""
    shapes: list[dict[str, Any]] = driver.execute_script(
        "return (document.getElementById(arguments[0]).layout.shapes || [])"
        ".filter(s => s.yref === 'paper' && s.line.dash === arguments[1]).map(s => ({x0: s.x0, type: s.type}))",
        chart,
        dash,
    )
    return shapes


def _annotations(driver: Any, chart: str) -> list[str]:
    texts: list[str] = driver.execute_script(
        "return (document.getElementById(arguments[0]).layout.annotations || []).map(a => a.text)", chart
    )
    return texts


def test_every_chart_renders_with_data_and_marks_the_promotion(
    loop_store: LoopStore, controller_url: str, artefacts: Path, tmp_path: Path
) -> None:
    with chromium(tmp_path / "profile") as driver:
        driver.get(f"{controller_url}/dashboard?token={TOKEN}")  # redirects to the first model's page
        wait_rendered(driver)
        firings = driver.execute_script("return window.driftloop.data.drift.firings")
        assert firings
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
            assert len(_shapes(driver, chart, "dot")) == len(firings), f"{chart} does not mark every rule firing"
            assert any("feature-drift" in text for text in _annotations(driver, chart)), f"{chart} names no rule"
        jobs = driver.find_element("id", "jobs").text
        assert "promoted" in jobs
        assert "drift rule feature-drift" in jobs
        assert "CI" in jobs

        # The performance chart shows what the performance rule judges, with its lines labelled.
        names = driver.execute_script("return document.getElementById('chart-performance').data.map(t => t.name)")
        assert names[0] == "ROC AUC (drift windows)"
        performance = " | ".join(_annotations(driver, "chart-performance"))
        assert "holdout ROC AUC" in performance
        assert "performance-drop: breaches below" in performance
        assert "performance-drop" in driver.find_element("id", "note-performance").text
        scores = driver.execute_script("return document.getElementById('chart-drift-scores').data.map(t => t.name)")
        assert any(n.startswith("threshold p<") and "KS" in n for n in scores), scores
        assert any(text.startswith("p<") for text in _annotations(driver, "chart-drift-scores"))

        # Drift per column: a verdict for the dataset, and reference against current for each column.
        verdict = driver.find_element("id", "dataset-verdict").text
        assert "of 16 columns drifted" in verdict, verdict
        assert "dataset drifts from 50 %" in verdict, verdict
        minis = driver.execute_script(
            "return [...document.querySelectorAll('.mini')].map(d => ["
            "d.querySelectorAll('rect.bar-ref').length, d.querySelectorAll('rect.bar-cur').length,"
            "[...d.querySelectorAll('rect.bar-cur')].filter(r => r.getAttribute('height') > 0).length])"
        )
        assert len(minis) == 17  # 16 features and the predictions
        # A bar of each distribution per bin, and the window's values fill at least two bins.
        assert all(ref == cur >= 2 and drawn >= 2 for ref, cur, drawn in minis), minis
        income = driver.find_element("xpath", "//div[contains(@class, 'column')][.//h3[starts-with(., 'income')]]")
        assert "drifted" in income.get_attribute("class")
        assert "KS test" in income.text
        assert "p-value" in income.text
        assert "feature-drift" in driver.find_element("id", "firings").text

        assert driver.execute_script(OVERLAPS) == {"bars": 7, "hits": []}
        # The whole page in one screenshot, and each section on its own.
        driver.set_window_size(1500, driver.execute_script("return document.documentElement.scrollHeight") + 120)
        screenshot = artefacts / "dashboard.png"
        driver.save_screenshot(str(screenshot))
        for section in driver.find_elements("css selector", "main > section"):
            name = section.find_element("tag name", "h2").text.split(":")[0].lower().replace(" ", "-")
            section.screenshot(str(artefacts / f"section-{name}.png"))
        print(f"dashboard screenshots: {artefacts}")
        assert console_errors(driver) == []


def test_time_range_selector_changes_what_is_shown(
    loop_store: LoopStore, controller_url: str, artefacts: Path, tmp_path: Path
) -> None:
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
        # The firings of phase 2 (credit@2's windows) are marked, the earlier ones are not.
        after_firings = driver.execute_script("return window.driftloop.data.drift.firings")
        assert all(f["version"] == 2 for f in after_firings)
        assert len(_shapes(driver, "chart-volume", "dot")) == len(after_firings)
        driver.save_screenshot(str(artefacts / "dashboard-phase2.png"))
        first = driver.execute_script("return document.getElementById('chart-volume').data[0].x[0]")
        assert first >= loop_store.phase2_start.strftime("%Y-%m-%d %H:%M:%S")
        assert console_errors(driver) == []
