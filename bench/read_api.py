"""How long the read APIs take over a big store: W windows of a real model, F firings.

Trains a tiny real credit model, computes one real window report of it (``DriftMonitor``), then
writes W windows with that report's rows (``insert_metrics``: what ``write_window`` writes, with
the window's number and times moved on) and F firings with their delivery and a job each. Then
calls each route through the controller app in process (median of --repeat calls):
windows (limit 100 and 1000, and a one-hour span in the middle), one window, firings.
Prints figures; asserts nothing. Run: .venv/bin/python bench/read_api.py [--windows 20000 --firings 2000].
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import onnxruntime as ort
import pandas as pd
from sqlalchemy.orm import Session

from driftloop.datasets import TARGET, make_credit
from driftloop.drift.config import DetectionConfig, WindowConfig
from driftloop.drift.reference import ReferenceProfile
from driftloop.drift.window import DriftMonitor
from driftloop.registry import Registry
from driftloop.store import make_engine, upgrade
from driftloop.store.drift import RuleFiring, insert_metrics, metric_rows
from driftloop.store.jobs import RetrainJob
from driftloop.store.settings import StoreSettings
from driftloop.train.config import TrainConfig
from driftloop.train.frame import model_frame, onnx_feeds
from driftloop.train.run import train_model
from driftloop_controller.app import create_app
from driftloop_controller.settings import ControllerSettings

WINDOW = 1000
SPACING_S = 10.0  # a 1,000-record window every 10 s: 100 requests/s


def one_report_rows(registry: Registry) -> list[dict[str, Any]]:
    bundle = registry.resolve("credit")
    reference = ReferenceProfile.from_bundle(bundle)
    monitor = DriftMonitor(WindowConfig(size=WINDOW), DetectionConfig(), lambda model, version: reference)
    frame = pd.DataFrame(make_credit(WINDOW, seed=5))
    session = ort.InferenceSession(str(bundle.model_path), providers=["CPUExecutionProvider"])
    label, probabilities = session.run(
        ["label", "probabilities"], onnx_feeds(model_frame(frame, bundle.contract), bundle.contract)
    )
    labels = [str(c) for c in bundle.contract.class_labels or []]
    columns = bundle.contract.column_names
    [report] = monitor.add(
        "credit",
        1,
        frame[columns].astype(object).where(frame[columns].notna(), None).to_dict("records"),
        [labels[i] for i in np.ravel(label)],
        probabilities=probabilities,
        labels=[str(v) for v in frame[TARGET]],
        time=0.0,
    )
    return metric_rows(report)


def fill(engine: Any, rows: list[dict[str, Any]], windows: int, firings: int, start: datetime) -> None:
    with engine.begin() as connection:
        for index in range(windows):
            end = start + timedelta(seconds=SPACING_S * (index + 1))
            moved = [
                {**row, "window_index": index, "window_start": end - timedelta(seconds=SPACING_S), "window_end": end}
                for row in rows
            ]
            insert_metrics(connection, moved)
    every = max(1, windows // max(firings, 1))
    with Session(engine) as session, session.begin():
        for n in range(firings):
            index = n * every
            fired = start + timedelta(seconds=SPACING_S * (index + 1))
            firing_id = f"f{n:08d}"
            body = {"rule": {"statistic": "drift", "threshold": 0.05, "consecutive": 2}, "window": {"index": index}}
            body["evidence"] = [{"column": "income", "statistic": "ks_pvalue", "value": 1e-6, "threshold": 0.05}]
            session.add(
                RuleFiring(
                    id=firing_id,
                    rule="feature-drift",
                    action="retrain",
                    model="credit",
                    version=1,
                    window_index=index,
                    fired_at=fired,
                    recorded_at=fired,
                    body=body,
                    delivery_status="delivered",
                    attempts=1,
                    http_status=202,
                    delivered_at=fired,
                    response=f'{{"job_id": "j{n:08d}"}}',
                )
            )
            session.add(
                RetrainJob(
                    id=f"j{n:08d}",
                    model="credit",
                    state="succeeded",
                    trigger="drift:feature-drift",
                    idempotency_key=firing_id,
                    evidence=body,
                    created_at=fired,
                    finished_at=fired,
                    decision={"promote": False},
                    log="",
                )
            )


async def measure(settings: ControllerSettings, calls: dict[str, str], repeat: int) -> dict[str, float]:
    app = create_app(settings)
    medians: dict[str, float] = {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://controller", timeout=120) as client:
            for name, path in calls.items():
                seconds = []
                for _ in range(repeat):
                    began = time.perf_counter()
                    answer = await client.get(path)
                    seconds.append(time.perf_counter() - began)
                    assert answer.status_code == 200, answer.text
                medians[name] = statistics.median(seconds)
    return medians


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--windows", type=int, default=20_000)
    parser.add_argument("--firings", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--url", default="", help="Store URL (default: a SQLite file in a temporary directory).")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        registry = Registry(workdir / "registry")
        config = TrainConfig(target=TARGET, max_trials=1, families=["linear"])
        train_model(pd.DataFrame(make_credit(2000, seed=1)), config=config, name="credit", registry=registry)
        url = args.url or f"sqlite:///{workdir / 'store.db'}"
        engine = make_engine(StoreSettings(url=url))
        upgrade(engine)
        rows = one_report_rows(registry)
        start = datetime(2026, 12, 1, tzinfo=UTC)
        began = time.perf_counter()
        fill(engine, rows, args.windows, args.firings, start)
        filled = time.perf_counter() - began
        engine.dispose()
        middle = start + timedelta(seconds=SPACING_S * args.windows / 2)
        span = f"since={middle.isoformat()}&until={(middle + timedelta(hours=1)).isoformat()}".replace("+", "%2B")
        calls = {
            "windows, limit 100": "/v1/models/credit/windows?limit=100",
            "windows, limit 1000": "/v1/models/credit/windows?limit=1000",
            "windows, one hour in the middle (360)": f"/v1/models/credit/windows?{span}&limit=1000",
            "one window": f"/v1/models/credit/windows/1/{args.windows // 2}",
            "firings, limit 100": "/v1/models/credit/firings?limit=100",
            "firings, limit 1000": "/v1/models/credit/firings?limit=1000",
        }
        settings = ControllerSettings(registry={"path": registry.root}, store=StoreSettings(url=url))
        medians = asyncio.run(measure(settings, calls, args.repeat))
    print(f"store: {url.split(':')[0]}, {args.windows:,} windows x {len(rows)} rows, {args.firings:,} firings")
    print(f"filled in {filled:.1f} s")
    for name, seconds in medians.items():
        print(f"  {name:<40} {seconds * 1000:8.1f} ms (median of {args.repeat})")


if __name__ == "__main__":
    main()
