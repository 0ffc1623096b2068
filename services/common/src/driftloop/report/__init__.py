"""Reports and dashboard data: SQL aggregates over the store, one HTML page, the static report.

Needs the ``driftloop[report]`` extra (the store and plotly). The aggregates are computed in SQL
and reach the browser as a few hundred points per chart, never as raw rows.
"""

from driftloop.report.data import CHARTS, ReportData
from driftloop.report.page import plotly_js_path, render_page
from driftloop.report.timerange import TimeRange, parse_time
from driftloop.report.writer import write_report

__all__ = ["CHARTS", "ReportData", "TimeRange", "parse_time", "plotly_js_path", "render_page", "write_report"]
