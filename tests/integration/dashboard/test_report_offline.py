"""``driftloop report`` writes one HTML file that opens in Chromium with no network and shows the same charts."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from browser import chart_traces, chromium, console_errors, wait_rendered
from dashboard_loop import LoopStore


def test_static_report_opens_offline_with_every_chart(loop_store: LoopStore, artefacts: Path, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    command = [sys.executable, "-m", "driftloop.cli.main", "report", "--model", "credit", "--out", str(out)]
    command += ["--store", loop_store.store_url, "--registry", str(loop_store.registry)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    html = out.read_text()
    assert "<script src=" not in html  # Plotly and the data are inline

    with chromium(tmp_path / "profile", offline=True) as driver:
        driver.get(out.as_uri())
        wait_rendered(driver)
        charts = chart_traces(driver)
        assert len(charts) == 7
        for chart, drawn in charts.items():
            assert drawn["traces"] >= 1, f"{chart}: {drawn}"
            assert drawn["points"] >= 1, f"{chart}: {drawn}"
            assert drawn["svg"] >= 1, f"{chart}: {drawn}"
        assert f"{loop_store.requests} requests" in driver.find_element("id", "summary").text
        assert "promoted" in driver.find_element("id", "jobs").text

        # The range zooms the time axes of the inline data.
        since = loop_store.phase2_start.strftime("%Y-%m-%dT%H:%M:%S")
        driver.execute_script("document.getElementById('since').value = arguments[0]", since)
        driver.find_element("id", "apply").click()
        wait_rendered(driver, renders=2)
        start = driver.execute_script("return document.getElementById('chart-volume').layout.xaxis.range[0]")
        assert str(start).startswith(loop_store.phase2_start.strftime("%Y-%m-%d %H:%M:%S"))

        driver.save_screenshot(str(artefacts / "report.png"))
        print(f"report screenshot: {artefacts / 'report.png'}")
        assert console_errors(driver) == []
