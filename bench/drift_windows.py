"""Drift windows: computation throughput, detection delay and false alarms on synthetic credit streams.

Run from the repository root: ``.venv/bin/python bench/drift_windows.py`` (``--quick`` for fewer
seeds). Prints Markdown tables for docs/benchmarks.md (## Drift) and writes the figures to
bench/results/drift_windows.json; asserts nothing. One core: BLAS
and OpenMP threads are pinned to 1 before numpy loads, so figures are per core.

- Throughput: ``compute_window`` (every statistic of every column, the predictions and the
  performance) on pre-built windows of 1,000 and 10,000 records x 16 columns, median of repeats;
  and the ingestion of batches (records as column arrays, and as lists of dicts) into windows.
- Detection: the default rules (count windows of 1,000 records) on streams from
  ``driftloop.datasets.make_credit`` scored by a real logistic regression; false alarms on
  streams without drift, and the delay (in windows) from an injected shift to the first firing.
"""

from __future__ import annotations

import os

for _variable in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402 (after the thread pinning, which must precede numpy)
import json  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "drift_windows.json"
sys.path.insert(0, str(ROOT / "tests" / "unit" / "drift"))

from drift_helpers import (  # noqa: E402
    CreditModel,
    Shift,
    concept,
    dominant_category,
    fit_credit_model,
    inverted_labels,
    mean_shift,
    run_stream,
    stream_batches,
)

from driftloop.datasets import make_credit  # noqa: E402
from driftloop.drift.compute import compute_window  # noqa: E402
from driftloop.drift.config import DetectionConfig, WindowConfig  # noqa: E402
from driftloop.drift.rules import RulesFile, load_rules  # noqa: E402
from driftloop.drift.window import DriftMonitor, to_window_data  # noqa: E402


def _covariate(columns: dict, rng: object) -> dict:  # type: ignore[type-arg]
    """Rows drawn from make_credit(drift="covariate"): incomes, loan sizes and purposes move."""
    drifted = make_credit(len(columns["age"]), seed=99, drift="covariate")
    return {name: drifted[name] for name in columns}


def throughput(model: CreditModel, repeats: int, results: dict[str, Any]) -> None:
    print("### Window computation (one core)\n")
    print("| records per window | column-values | compute_window (median) | column-values/s", end=" ")
    print("| ingestion, columns | ingestion, dicts |\n| --- | --- | --- | --- | --- | --- |")
    config = DetectionConfig()
    for size in (1000, 10_000):
        columns, predicted, probabilities, labels = next(stream_batches(model, 1, size, seed=5, batch_size=size))
        feedback = [str(v) for v in labels]
        data = to_window_data(model.reference, columns, predicted, probabilities=probabilities, labels=feedback)
        values = size * len(data.columns)
        timings = []
        for _ in range(repeats):
            began = time.perf_counter()
            compute_window(model.reference, data, config, model="credit", version=1, index=0, start=0.0, end=1.0)
            timings.append(time.perf_counter() - began)
        median = statistics.median(timings)
        ingest_columns = _ingestion(model, size, as_dicts=False)
        ingest_dicts = _ingestion(model, size, as_dicts=True)
        results["throughput"].append(
            {
                "records": size,
                "column_values": values,
                "median_seconds": median,
                "column_values_per_second": values / median,
                "ingestion_columns_per_second": ingest_columns,
                "ingestion_dicts_per_second": ingest_dicts,
            }
        )
        print(
            f"| {size:,} | {values:,} | {median * 1e3:.1f} ms | {values / median / 1e6:.1f} M "
            f"| {ingest_columns / 1e6:.2f} M values/s | {ingest_dicts / 1e6:.2f} M values/s |"
        )
    print()


def _ingestion(model: CreditModel, size: int, *, as_dicts: bool) -> float:
    """Column-values per second through DriftMonitor.add in batches of 100 records (no window closing)."""
    batches = list(stream_batches(model, 1, size, seed=6, batch_size=100))
    if as_dicts:
        batches = [
            ([{k: v[i] for k, v in cols.items()} for i in range(len(pred))], pred, p, y) for cols, pred, p, y in batches
        ]
    monitor = DriftMonitor(WindowConfig(size=10 * size), DetectionConfig(), lambda name, version: model.reference)
    began = time.perf_counter()
    for records, predicted, probabilities, _ in batches:
        monitor.add("credit", 1, records, predicted, probabilities=probabilities, time=0.0)  # type: ignore[arg-type]
    return size * len(model.reference.columns) / (time.perf_counter() - began)


def detection(model: CreditModel, rules: RulesFile, seeds: list[int], results: dict[str, Any]) -> None:
    print(f"### Detection with the default rules ({len(seeds)} seeds, windows of {rules.window.size:,} records)\n")
    print("| stream | windows | alarms (firings) | rules that fired |")
    print("| --- | --- | --- | --- |")
    alarms, fired = 0, set()
    for seed in seeds:
        result = run_stream(model, rules, windows=100, seed=seed)
        alarms += len(result.firings)
        fired |= {f.rule for f in result.firings}
    total = 100 * len(seeds)
    results["no_drift"] = {"windows": total, "alarms": alarms, "rules": sorted(fired)}
    rate = f"{alarms} ({alarms / total * 100:.1f} per 100 windows)"
    print(f"| no drift (resampled make_credit) | {total} | {rate} | {sorted(fired) or '-'} |\n")

    cases: list[tuple[str, Shift, str, float]] = [
        ("credit_score mean +0.5 std", mean_shift("credit_score", 0.5), "feature-drift", 1.0),
        ("credit_score mean +0.25 std", mean_shift("credit_score", 0.25), "feature-drift", 1.0),
        (
            "purpose: new category 'crypto' in 60 % of rows",
            dominant_category("purpose", "crypto"),
            "feature-drift",
            1.0,
        ),
        ("make_credit covariate drift", _covariate, "feature-drift", 1.0),
        ("labels invert above 0.5 utilisation, all labelled", inverted_labels(), "performance-drop", 1.0),
        ("labels invert above 0.5 utilisation, 30 % labelled", inverted_labels(), "performance-drop", 0.3),
        ("make_credit concept drift, all labelled", concept, "performance-drop", 1.0),
    ]
    print("| injected at window 10 | rule | detection delay in windows (per seed) | median", end=" ")
    print("| other rules that fired | window ROC AUC after the shift |\n| --- | --- | --- | --- | --- | --- |")
    for name, shift, rule, labelled in cases:
        delays, others, aucs = [], set(), []
        for seed in seeds:
            result = run_stream(model, rules, windows=30, seed=seed, drift_at=10, shift=shift, label_share=labelled)
            delays.append(result.first_detection(rule))
            others |= {f.rule for f in result.firings if f.rule != rule}
            aucs += [r.performance.metrics["roc_auc"] for r in result.reports[10:] if r.performance]
        found = [d for d in delays if d is not None]
        median = (
            f"{statistics.median(found):g}" if len(found) == len(delays) else f"missed in {len(delays) - len(found)}"
        )
        results["shifts"].append({"shift": name, "rule": rule, "delays": delays, "other_rules": sorted(others)})
        shown = ", ".join("-" if d is None else str(d) for d in delays)
        print(f"| {name} | {rule} | {shown} | {median} | {sorted(others) or '-'} | {statistics.median(aucs):.3f} |")
    print("\nDelay 0 is the first drifted window; with `consecutive: 2` the earliest firing is at delay 1;")
    print("'-' is no firing within the 20 drifted windows.\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds and fewer repeats")
    args = parser.parse_args()
    began = time.perf_counter()
    model = fit_credit_model()
    rules = load_rules()
    auc = model.metrics["holdout"]["roc_auc"]
    print(f"Model: logistic regression on make_credit (8,000 rows), holdout ROC AUC {auc:.3f}.\n")
    results: dict[str, Any] = {"holdout_roc_auc": auc, "throughput": [], "shifts": []}
    throughput(model, 10 if args.quick else 30, results)
    detection(model, rules, [101, 202] if args.quick else [101, 202, 303, 404, 505], results)
    print(f"(benchmark ran in {time.perf_counter() - began:.0f} s)")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2))
    print(f"figures written to {RESULTS}")


if __name__ == "__main__":
    main()
