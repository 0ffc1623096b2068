"""Drift streams with targets, from installed packages only (no downloads), for bench/loop_effectiveness.py.

Real data: NannyML's bundled ``employment_MA`` (US census, Massachusetts, one year per part: real
seasonal and year-to-year shift) and ``california_housing`` (a binary target over time), read from
the files NannyML's wheel ships (``pip install --no-deps nannyml``: its import needs matplotlib and
more, its data files need nothing). Generated data: river's Agrawal and SEA generators, with a real
concept change through ``ConceptDriftStream`` (abrupt: a 100-record transition; gradual: 3,000),
several seeds. Each stream is a frame in event-time order, its target, and the row where the change
is known to happen (None for the real datasets: nobody says where their changes are).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from importlib import util
from pathlib import Path

import pandas as pd

ROWS = 20_000
CHANGE = 10_000


@dataclass(frozen=True)
class Stream:
    name: str
    frame: pd.DataFrame
    target: str
    change_at: int | None
    train_rows: int


def _nannyml_data() -> Path:
    spec = util.find_spec("nannyml")
    if spec is None or spec.origin is None:
        raise SystemExit("the real streams need NannyML's data files: pip install --no-deps nannyml")
    return Path(spec.origin).parent / "datasets" / "data"


def employment_ma(per_year: int = 4000, seed: int = 0) -> Stream:
    """Four years (2015-2018), ``per_year`` random people each, in year order: the champion learns 2015."""
    data = _nannyml_data()
    reference = pd.read_parquet(data / "employment_MA_reference.pq")
    analysis = pd.read_parquet(data / "employment_MA_analysis.pq").merge(
        pd.read_parquet(data / "employment_MA_analysis_target.pq"), on="id"
    )
    frame = pd.concat([reference, analysis], ignore_index=True)
    frame = frame.drop(columns=["id", "prediction", "predicted_probability"])
    years = [part.sample(n=min(per_year, len(part)), random_state=seed) for _, part in frame.groupby("year")]
    frame = pd.concat(years, ignore_index=True).drop(columns=["year"])
    return Stream("employment-MA", frame, "employed", None, per_year)


def california_housing() -> Stream:
    data = _nannyml_data()
    reference = pd.read_csv(data / "california_housing_reference.csv")
    analysis = pd.read_csv(data / "california_housing_analysis.csv").merge(
        pd.read_csv(data / "california_housing_analysis_gt.csv"), on="id"
    )
    frame = pd.concat([reference, analysis], ignore_index=True).sort_values("timestamp", kind="stable")
    frame = frame.drop(columns=["id", "timestamp", "y_pred_proba", "y_pred"]).reset_index(drop=True)
    return Stream("california-housing", frame, "clf_target", None, len(reference))


def _river(name: str, stream: object, rows: int, change_at: int) -> Stream:
    records = [{**x, "y": int(y)} for x, y in itertools.islice(stream, rows)]  # type: ignore[call-overload]
    return Stream(name, pd.DataFrame(records), "y", change_at, 5000)


def agrawal(seed: int, *, width: int) -> Stream:
    from river.datasets import synth

    drift = synth.ConceptDriftStream(
        stream=synth.Agrawal(classification_function=0, seed=seed),
        drift_stream=synth.Agrawal(classification_function=2, seed=seed),
        position=CHANGE,
        width=width,
        seed=seed,
    )
    kind = "abrupt" if width <= 100 else "gradual"
    return _river(f"agrawal-{kind}-s{seed}", drift, ROWS, CHANGE - width // 2)


def sea(seed: int, *, width: int) -> Stream:
    from river.datasets import synth

    drift = synth.ConceptDriftStream(
        stream=synth.SEA(variant=0, seed=seed, noise=0.1),
        drift_stream=synth.SEA(variant=3, seed=seed, noise=0.1),
        position=CHANGE,
        width=width,
        seed=seed,
    )
    kind = "abrupt" if width <= 100 else "gradual"
    return _river(f"sea-{kind}-s{seed}", drift, ROWS, CHANGE - width // 2)


def all_streams(seeds: int = 2) -> list[Stream]:
    streams = [employment_ma(), california_housing()]
    for seed in range(1, seeds + 1):
        streams += [agrawal(seed, width=100), sea(seed, width=100)]
    streams += [agrawal(1, width=3000), sea(1, width=3000)]
    return streams
