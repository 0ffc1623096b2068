"""The demo's HTML report: the dashboard's static page (``driftloop.report``) for the demo's store.

The report writer belongs to the dashboard; the demo only calls it. When it is not installed or
fails, the demo says so and goes on: the loop's own outcome does not depend on the report.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape

from driftloop.demo.traffic import MODEL
from driftloop.registry import Registry


def write_demo_report(home: Path, console: Console, store_url: str | None = None) -> Path | None:
    """Write ``<home>/report.html`` from the demo's store and registry; None if no writer is available."""
    out_path = home / "report.html"
    try:
        from driftloop.report import write_report
    except ImportError as exc:  # the driftloop[report] extra (plotly) is not installed
        console.print(f"  (no HTML report: {escape(str(exc))})")
        return None
    url = store_url or f"sqlite:///{(home / 'store.db').resolve()}"
    try:
        write_report(url, Registry(home / "registry"), MODEL, out_path)
    except Exception as exc:  # the report is a by-product: a failure is reported, not fatal
        console.print(f"  [yellow]the HTML report could not be written:[/] {escape(str(exc))}")
        return None
    console.print(f"  report: {out_path}")
    return out_path
