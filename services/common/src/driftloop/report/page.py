"""The one HTML page behind both the dashboard and the static report.

The dashboard page loads Plotly from ``/dashboard/assets/plotly.min.js`` (served from the
installed ``plotly`` package: no CDN, no vendored copy in the repository) and fetches its data;
the report inlines Plotly and the data, so the file works offline and can be attached to a ticket.
"""

from __future__ import annotations

import re
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import orjson

_PLACEHOLDER = re.compile(r"__(TITLE|PLOTLY|CONFIG|DASHBOARD_JS)__")


def plotly_js_path() -> Path:
    """plotly.min.js as shipped in the plotly package's data."""
    return Path(str(resources.files("plotly") / "package_data" / "plotly.min.js"))


@cache
def _asset(name: str) -> str:
    return (resources.files("driftloop.report") / "assets" / name).read_text(encoding="utf-8")


def dashboard_js() -> str:
    return _asset("dashboard.js")


def render_page(title: str, config: dict[str, Any], *, plotly_src: str | None = None) -> str:
    """The page: ``plotly_src`` is a URL to load Plotly from; without it Plotly is inlined."""
    if plotly_src is not None:
        plotly = f'<script src="{_escape_attr(plotly_src)}"></script>'
    else:
        plotly = "<script>" + plotly_js_path().read_text(encoding="utf-8") + "</script>"
    values = {
        "TITLE": _escape_text(title),
        "PLOTLY": plotly,
        # "</" inside a script element would end it early: JSON allows "<\/" as the same string.
        "CONFIG": orjson.dumps(config).decode().replace("</", "<\\/"),
        "DASHBOARD_JS": dashboard_js(),
    }
    # One pass, so that nothing inside an inserted value is ever taken for a placeholder.
    return _PLACEHOLDER.sub(lambda match: values[match.group(1)], _asset("page.html"))


def _escape_text(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _escape_attr(text: str) -> str:
    return _escape_text(text).replace('"', "&quot;")
