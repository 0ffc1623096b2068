"""Sweep wall time, leaderboard and holdout quality against FLAML on the same split and budget.

    .venv/bin/python bench/train_sweep.py                      # credit 50k @120 s, cancer and diabetes @60 s
    .venv/bin/python bench/train_sweep.py --only credit --budget 120 --skip-flaml

Datasets: make_credit (50,000 rows, 12 numeric + 4 categorical columns, binary), scikit-learn's
load_breast_cancer (binary) and load_diabetes (regression). For each: driftloop's sweep
(``train_model``, parity gate included, nothing registered), then FLAML (bench/.venv-flaml,
created on first use) with its default estimators on exactly the rows of driftloop's training
split, scored on exactly its holdout. Both use the same number of threads. Prints figures and
writes them to bench/results/; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import pandas as pd
from sklearn.datasets import load_breast_cancer, load_diabetes

from driftloop.contract import ColumnKind
from driftloop.datasets import make_credit
from driftloop.train.config import TrainConfig
from driftloop.train.dataset import infer_contract
from driftloop.train.run import TrainResult, split_dataset, train_model
from driftloop.train.sweep import SweepEvent

BENCH = Path(__file__).resolve().parent
FLAML_VENV = BENCH / ".venv-flaml"
FLAML_REQUIREMENTS = [
    "flaml[automl]>=2.1",
    "lightgbm>=4.0",
    "xgboost>=2.0",
    "scikit-learn>=1.5",
    "pandas>=2.2",
    "pyarrow>=15",
]


def datasets(rows: int) -> dict[str, tuple[pd.DataFrame, str]]:
    return {
        "credit": (pd.DataFrame(make_credit(rows, seed=0)), "default"),
        "breast_cancer": (load_breast_cancer(as_frame=True).frame, "target"),
        "diabetes": (load_diabetes(as_frame=True).frame, "target"),
    }


def ensure_flaml_venv() -> Path:
    """Create bench/.venv-flaml once; reinstall only when the requirement list changes."""
    python = FLAML_VENV / "bin" / "python"
    stamp = FLAML_VENV / ".requirements"
    wanted = "\n".join(FLAML_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    subprocess.run([sys.executable, "-m", "venv", str(FLAML_VENV)], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", *FLAML_REQUIREMENTS], check=True)
    stamp.write_text(wanted)
    return python


def run_driftloop(frame: pd.DataFrame, target: str, config: TrainConfig) -> tuple[TrainResult, float]:
    def report(event: SweepEvent) -> None:
        if event.kind == "trial_finished" and event.trial is not None:
            trial = event.trial
            print(
                f"  {event.elapsed:6.1f}s trial {trial.index:>2} {trial.family:<24} {trial.status:<7}"
                f" cv {trial.cv_mean:.4f} ({trial.fit_seconds:.1f}s)",
                flush=True,
            )
        elif event.kind == "stage":
            print(f"  {event.elapsed:6.1f}s {event.message}", flush=True)

    began = time.monotonic()
    result = train_model(frame, target, config=config, progress=report)
    return result, time.monotonic() - began


def run_flaml(python: Path, frame: pd.DataFrame, target: str, config: TrainConfig) -> dict[str, Any]:
    contract = infer_contract(frame, target)
    split = split_dataset(frame, contract, config)
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        for name, rows, y in (("train", split.train, split.y_train), ("holdout", split.holdout, split.y_holdout)):
            raw = frame.loc[rows.index, contract.column_names].copy()
            raw[target] = y  # encoded labels: the same classes in the same order as driftloop's
            raw.to_parquet(folder / f"{name}.parquet")
        job = {
            "target": target,
            "task": contract.task.value,
            "categorical": contract.columns_of(ColumnKind.CATEGORICAL),
            "time_budget": config.time_budget,
            "seed": config.seed,
            "n_jobs": config.n_jobs,
        }
        (folder / "job.json").write_text(json.dumps(job))
        began = time.monotonic()
        env = {**os.environ, "OMP_NUM_THREADS": str(config.n_jobs)}
        subprocess.run([str(python), str(BENCH / "train_flaml_runner.py"), str(folder)], check=True, env=env)
        result: dict[str, Any] = json.loads((folder / "result.json").read_text())
        result["wall_seconds"] = time.monotonic() - began
        return result


def leaderboard_lines(result: TrainResult, limit: int = 10) -> list[str]:
    lines = [f"  {'#':>2} {'trial':>5} {'family':<24} {'cv':>8} {'± std':>7} {'fit s':>6} status  parity"]
    for rank, trial in enumerate(result.leaderboard[:limit], start=1):
        lines.append(
            f"  {rank:>2} {trial.index:>5} {trial.family:<24} {trial.cv_mean:8.4f} {trial.cv_std:7.4f}"
            f" {trial.fit_seconds:6.1f} {trial.status:<7} {trial.parity_status}"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=120.0, help="seconds for the credit dataset")
    parser.add_argument("--small-budget", type=float, default=60.0, help="seconds for the bundled datasets")
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-jobs", type=int, default=1)
    parser.add_argument("--only", default="credit,breast_cancer,diabetes")
    parser.add_argument("--skip-flaml", action="store_true")
    args = parser.parse_args()

    python = None if args.skip_flaml else ensure_flaml_venv()
    figures: dict[str, Any] = {"load_average_start": os.getloadavg(), "cpus": os.cpu_count(), "datasets": {}}
    for name, (frame, target) in datasets(args.rows).items():
        if name not in args.only.split(","):
            continue
        budget = args.budget if name == "credit" else args.small_budget
        config = TrainConfig(time_budget=budget, seed=args.seed, n_jobs=args.n_jobs)
        print(f"\n== {name}: {len(frame)} rows, {frame.shape[1] - 1} columns, budget {budget:.0f} s", flush=True)
        result, wall = run_driftloop(frame, target, config)
        sweep = result.documents["metrics"]["sweep"]
        ours = result.holdout_metrics[result.metric]
        print("\n".join(leaderboard_lines(result)))
        print(
            f"  driftloop: {sweep['trials']} trials, search {sweep['search_seconds']:.1f} s, wall {wall:.1f} s;"
            f" winner {result.winner.family} (trial {result.winner.index});"
            f" holdout {result.metric} {ours:.4f}; parity max diff {result.parity.max_abs_diff:.2g}",
            flush=True,
        )
        entry: dict[str, Any] = {
            "rows": len(frame),
            "budget": budget,
            "metric": result.metric,
            "driftloop": {
                "holdout": ours,
                "wall_seconds": wall,
                "search_seconds": sweep["search_seconds"],
                "trials": sweep["trials"],
                "winner": result.documents["metrics"]["winner"],
                "parity": result.documents["metrics"]["parity"],
                "leaderboard": [t.to_dict() for t in result.leaderboard],
            },
        }
        if python is not None:
            flaml = run_flaml(python, frame, target, config)
            entry["flaml"] = flaml
            print(
                f"  FLAML: holdout {result.metric} {flaml['score']:.4f} ({flaml['best_estimator']},"
                f" wall {flaml['wall_seconds']:.1f} s); driftloop − FLAML = {ours - flaml['score']:+.4f}",
                flush=True,
            )
        figures["datasets"][name] = entry
    figures["load_average_end"] = os.getloadavg()
    print(f"\nload average start {figures['load_average_start']}, end {figures['load_average_end']}")
    results = BENCH / "results"
    results.mkdir(exist_ok=True)
    path = results / f"train-sweep-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(figures, indent=2, default=str))
    print(f"written {path}")


if __name__ == "__main__":
    main()
