"""The static report: every chart of one model in one self-contained HTML file."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from sqlalchemy import Engine

from driftloop.policy import Policy
from driftloop.registry import Registry
from driftloop.report.data import ReportData
from driftloop.report.page import render_page
from driftloop.store.engine import make_engine
from driftloop.store.settings import StoreSettings


def write_report(
    store: str | Engine,
    registry: Registry | Path | str,
    model: str,
    out_path: Path | str,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    policy: Policy | None = None,
) -> Path:
    """Write ``out_path`` (Plotly and the data inlined; opens offline) and return it.

    ``store`` is a store URL or an engine; ``registry`` a Registry or its directory. ``since``
    and ``until`` default to the model's first and last prediction; ``policy`` (default: the packaged
    one) says which performance metric, thresholds and dataset drift share the charts draw.
    """
    engine = make_engine(StoreSettings(url=store)) if isinstance(store, str) else store
    try:
        reg = registry if isinstance(registry, Registry) else Registry(Path(registry))
        data = ReportData(engine, reg, policy).everything(model, since, until)
    finally:
        if isinstance(store, str):
            engine.dispose()
    html = render_page(f"driftloop report: {model}", {"model": model, "data": data})
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    tmp.write_text(html, encoding="utf-8")
    tmp.replace(out)  # a reader never sees a half-written report
    return out
