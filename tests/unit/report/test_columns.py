"""The per-column drift view against the window the forwarder's own code computed and stored.

Real bundles (a multiclass and a regression model trained by ``train_model``); one window of 400
records, one column shifted, judged by ``compute_window`` (the forwarder's statistics) and stored
by ``write_window``; the records stored in ``predictions`` as scoring's events would be. The
records' predictions are their true targets: the view does not care how a prediction came about,
only that it bins what was predicted. Oracles: the stored report's verdicts, and the window's
shares counted here by plain comparisons with the reference edges and categories.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import Engine, insert

from driftloop.datasets import make_credit
from driftloop.drift.compute import PREDICTIONS, WindowReport, compute_window
from driftloop.drift.config import DetectionConfig
from driftloop.drift.reference import ReferenceProfile
from driftloop.drift.window import to_window_data
from driftloop.registry import Registry
from driftloop.report import ReportData
from driftloop.store import make_engine, upgrade
from driftloop.store.drift import write_window
from driftloop.store.models import Prediction
from driftloop.store.settings import StoreSettings
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model

TINY = TrainConfig(time_budget=5, max_trials=1, families=["linear"], seed=0)
START = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ROWS = 400
METHODS = {"ks": "KS test", "chi2": "chi-squared test", "wasserstein": "Wasserstein distance (normed)"}
METHODS["jensen_shannon"] = "Jensen-Shannon distance"


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    registry = Registry(tmp_path_factory.mktemp("registry"))
    frame = pd.DataFrame(make_credit(1200, seed=1)).drop(columns=["default"])
    for name, target in (("purpose", "purpose"), ("rate", "interest_rate")):
        train_model(frame, config=TINY.model_copy(update={"target": target}), name=name, registry=registry)
    return registry


def _window(engine: Engine, registry: Registry, model: str, target: str) -> WindowReport:
    frame = pd.DataFrame(make_credit(ROWS, seed=7))
    frame["income"] = frame["income"] * 2.5  # a shift the KS test cannot miss
    predictions = frame[target].tolist()
    records = frame.drop(columns=["default", target]).astype(object)
    records = records.where(records.notna(), None).to_dict(orient="records")
    bundle = registry.resolve(model)
    reference = ReferenceProfile.from_bundle(bundle)
    data = to_window_data(reference, records, predictions)
    times = [START + timedelta(seconds=i) for i in range(ROWS)]
    report = compute_window(
        reference,
        data,
        DetectionConfig(min_samples=50),
        model=model,
        version=bundle.version,
        index=0,
        start=times[0].timestamp(),
        end=times[-1].timestamp(),
    )
    write_window(engine, report, [], [])
    rows = [
        {
            "event_id": f"{model}-{i}",
            "record_index": 0,
            "model": model,
            "version": bundle.version,
            "request_id": f"r{i}",
            "time": times[i],
            "source": "test",
            "record": records[i],
            "prediction": predictions[i],
            "latency_ms": 1.0,
        }
        for i in range(ROWS)
    ]
    with engine.begin() as connection:
        connection.execute(insert(Prediction), rows)
    return report


@pytest.mark.parametrize(("model", "target"), [("purpose", "purpose"), ("rate", "interest_rate")])
def test_each_column_shows_its_reference_its_window_and_the_stored_verdict(
    registry: Registry, tmp_path: Path, model: str, target: str
) -> None:
    engine = make_engine(StoreSettings(url=f"sqlite:///{tmp_path / 'store.db'}"))
    upgrade(engine)
    report = _window(engine, registry, model, target)
    data = ReportData(engine, registry)
    view = data.chart("columns", model, data.time_range(model, None, None))

    assert view["window"]["rows"] == ROWS
    by_name = {c["column"]: c for c in view["columns"]}
    assert set(by_name) == {*report.columns, PREDICTIONS}
    for name, column in report.columns.items():
        shown = by_name[name]
        assert shown["test"] == METHODS[column.verdict.method], name
        assert shown["drifted"] == column.verdict.drifted, name
        assert shown["score"] == pytest.approx(column.verdict.score, rel=1e-3), name
    assert by_name["income"]["drifted"] is True
    assert view["columns"][0]["drifted"] is True  # drifted columns first

    judged = [c for c in report.columns.values() if c.verdict.drifted is not None]
    dataset = view["dataset"]
    assert dataset["share"] == pytest.approx(report.drift_share, abs=1e-4)
    assert dataset["drifted_columns"] == sum(1 for c in judged if c.verdict.drifted)
    assert dataset["threshold"] == 0.5
    assert dataset["drifted"] == (report.drift_share >= 0.5)

    reference = ReferenceProfile.from_bundle(registry.resolve(model))
    frame = pd.DataFrame(make_credit(ROWS, seed=7))
    # As the forwarder reads them: float32, like the model and the profile.
    income = (frame["income"].dropna() * 2.5).to_numpy(np.float32).astype(np.float64)
    assert by_name["income"]["current"] == pytest.approx(
        _numeric_shares(income, reference.numeric["income"].edges), abs=1e-3
    )
    assert by_name["income"]["reference"] == pytest.approx(list(reference.numeric["income"].frequencies), abs=1e-3)
    region = by_name["region"]
    counts = Counter(frame["region"].dropna())
    assert region["bins"][-1] == "(unseen)"
    assert region["current"][:-1] == pytest.approx(
        [counts[c] / sum(counts.values()) for c in region["bins"][:-1]], abs=1e-3
    )

    predicted = by_name[PREDICTIONS]
    if model == "purpose":  # multiclass: the class shares
        shares = Counter(frame["purpose"])
        assert predicted["bins"] == [f"class {label}" for label in reference.class_labels or []]
        assert predicted["current"] == pytest.approx(
            [shares[b.removeprefix("class ")] / ROWS for b in predicted["bins"]], abs=1e-3
        )
    else:  # regression: the predicted values in the reference's bins
        assert reference.predictions is not None
        assert reference.predictions.values is not None
        values = frame["interest_rate"].to_numpy(np.float64)
        edges = reference.predictions.values.edges
        assert predicted["current"] == pytest.approx(_numeric_shares(values, edges), abs=1e-3)
    engine.dispose()


def _numeric_shares(values: Any, edges: Any) -> list[float]:
    """Shares per bin by plain comparison: bin k holds edges[k-1] <= v < edges[k], the outer bins open."""
    counts = [0] * (len(edges) + 1)
    for v in values:
        counts[sum(1 for e in edges if v >= e)] += 1
    return [c / len(values) for c in counts]
