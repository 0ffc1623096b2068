"""``train_model``: data frame in, parity-checked ONNX bundle registered out.

The one entry point of the command line and the retrain controller. It never prints: it reports
through the ``progress`` callback and returns a ``TrainResult``.
"""

from __future__ import annotations

import hashlib
import subprocess
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split
from threadpoolctl import threadpool_limits

import driftloop
from driftloop.contract import DataContract
from driftloop.errors import ConfigError, DataError, TrainingError
from driftloop.features import check_definitions
from driftloop.registry import Bundle, Registry
from driftloop.train.config import TrainConfig
from driftloop.train.dataset import infer_contract, load_table
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.metrics import LOWER_IS_BETTER, sort_key, task_metrics
from driftloop.train.parity import ParityReport, check_parity, onnx_output, onnx_session
from driftloop.train.profile import build_profile, errors_profile
from driftloop.train.sweep import Progress, SweepEvent, Trial, candidate, fit_pipeline, predict_output, run_sweep

METRICS_SCHEMA_VERSION = 1


@dataclass
class TrainResult:
    contract: DataContract
    metric: str
    leaderboard: list[Trial]
    """Every trial, best cross-validated score first (pruned and failed trials last)."""
    winner: Trial
    holdout_metrics: dict[str, float]
    parity: ParityReport
    model: bytes
    documents: dict[str, dict[str, Any]]
    """profile, metrics and lineage, as registered."""
    bundle: Bundle | None
    """The registered version (None when no registry was given)."""


@dataclass(frozen=True)
class DatasetSplit:
    """Model frames and encoded targets of the training split and the holdout (index: the data's rows)."""

    train: pd.DataFrame
    y_train: np.ndarray
    holdout: pd.DataFrame
    y_holdout: np.ndarray
    folds: int
    w_train: np.ndarray | None = None
    """Sample weights of the training split (``config.weight_column``), when the data has them."""


def train_file(path: Path | str, target: str | None = None, **kwargs: Any) -> TrainResult:
    """``train_model`` on a CSV/Parquet file; the lineage records its absolute path and the sha256 of its bytes."""
    path = Path(path).resolve()  # absolute: ``driftloop up`` finds a model's source data from another directory
    frame = load_table(path)
    return train_model(frame, target, source=path, dataset_sha256=file_sha256(path), **kwargs)


def train_model(
    frame: pd.DataFrame,
    target: str | None = None,
    *,
    config: TrainConfig | None = None,
    name: str = "model",
    registry: Registry | None = None,
    trigger: str = "manual",
    progress: Progress | None = None,
    source: Path | str | None = None,
    dataset_sha256: str | None = None,
) -> TrainResult:
    """Infer the contract, sweep, gate on parity, profile, and register the winner."""
    config = config or TrainConfig()
    target = target or config.target
    if not target:
        raise ConfigError("no target column: pass --target or set 'target' in the configuration")
    began = time.monotonic()
    weighted = config.weight_column in frame.columns and config.weight_column != target
    drop = [*config.drop, config.weight_column] if weighted else config.drop
    contract = infer_contract(frame, target, task=config.task, drop=drop, kinds=config.kinds)
    check_definitions(config.derived, contract)
    metric = config.metric_for(contract.task)
    split = split_dataset(frame, contract, config)

    search_began = time.monotonic()
    trials = run_sweep(
        split.train,
        split.y_train,
        contract,
        metric=metric,
        families=config.families,
        folds=split.folds,
        seed=config.seed,
        time_budget=config.time_budget,
        max_trials=config.max_trials,
        n_jobs=config.n_jobs,
        progress=progress,
        derived=config.derived,
        sample_weight=split.w_train,
    )
    search_seconds = time.monotonic() - search_began
    leaderboard = sorted(trials, key=lambda t: (not t.eligible, sort_key(metric, t.cv_mean), t.index))
    winner, model, reference = _gate(leaderboard, split, contract, config, progress, began)
    assert winner.parity is not None
    shipped = onnx_output(onnx_session(model), split.holdout, contract)
    holdout = task_metrics(contract.task, split.y_holdout, shipped)

    _stage(progress, "profiling the training split", began, config)
    profile = build_profile(split.train, contract, shipped, seed=config.seed)
    profile["errors"] = errors_profile(contract, shipped, split.y_holdout)
    metrics = {
        "schema_version": METRICS_SCHEMA_VERSION,
        "task": contract.task.value,
        "metric": metric,
        "greater_is_better": metric not in LOWER_IS_BETTER,
        "winner": winner.to_dict(),
        "holdout": {"rows": len(split.holdout), **{k: _round(v) for k, v in holdout.items()}},
        "holdout_scikit_learn": {
            k: _round(v) for k, v in task_metrics(contract.task, split.y_holdout, reference).items()
        },
        "parity": winner.parity.to_dict(),
        "sweep": {
            "trials": len(trials),
            "search_seconds": round(search_seconds, 3),
            "time_budget": config.time_budget,
            "max_trials": config.max_trials,
            "stopped_by": "max_trials" if config.max_trials and len(trials) >= config.max_trials else "time_budget",
            "folds": split.folds,
            "train_rows": len(split.train),
            "holdout_rows": len(split.holdout),
            "sample_weight": config.weight_column if split.w_train is not None else None,
            "derived": len(config.derived),
        },
        "leaderboard": [trial.to_dict() for trial in leaderboard],
    }
    lineage = {
        "dataset": {
            "sha256": dataset_sha256 or frame_sha256(frame),
            "hashed": "file bytes" if dataset_sha256 else "data frame contents",
            "path": str(source) if source is not None else None,
            "rows": len(frame),
            "columns": len(frame.columns),
            "column_names": [str(c) for c in frame.columns],
        },
        "code_version": code_version(),
        "parameters": {**config.model_dump(mode="json"), "target": target, "metric": metric, "folds": split.folds},
        "time": datetime.now(UTC).isoformat(timespec="seconds"),
        "trigger": trigger,
        "training_seconds": round(time.monotonic() - began, 3),
    }
    documents = {"profile": profile, "metrics": metrics, "lineage": lineage}
    bundle = None
    if registry is not None:
        _stage(progress, f"registering {name}", began, config)
        bundle = registry.register(name, model, contract, documents, reason=f"first version ({trigger})")
    return TrainResult(contract, metric, leaderboard, winner, holdout, winner.parity, model, documents, bundle)


def split_dataset(frame: pd.DataFrame, contract: DataContract, config: TrainConfig) -> DatasetSplit:
    labelled = frame[frame[contract.target].notna()]
    x = model_frame(labelled, contract)
    y = encode_target(labelled[contract.target], contract)
    stratify = y if contract.task.is_classification else None
    if stratify is not None:
        counts = np.bincount(y, minlength=len(contract.class_labels or []))
        rarest = int(counts.argmin())
        if counts[rarest] < 3:
            label = (contract.class_labels or [])[rarest]
            raise DataError(
                f"class {label!r} of target {contract.target!r} has {counts[rarest]} rows: "
                "at least 3 are needed to hold some out and cross-validate",
                details={"column": contract.target},
            )
    n_holdout = round(len(x) * config.holdout_fraction)
    if n_holdout < 1 or len(x) - n_holdout < 2 * config.folds_for(len(x) - n_holdout):
        raise DataError(
            f"{len(x)} labelled rows are too few to hold out {config.holdout_fraction:.0%} and cross-validate"
        )
    train_index, holdout_index = train_test_split(
        np.arange(len(x)), test_size=config.holdout_fraction, random_state=config.seed, stratify=stratify
    )
    # Sorted positions keep the rows in file order, so the same seed gives the same frames.
    train_index, holdout_index = np.sort(train_index), np.sort(holdout_index)
    folds = config.folds_for(len(train_index))
    if stratify is not None:
        folds = max(2, min(folds, int(np.bincount(y[train_index]).min())))
    weights = _sample_weights(labelled, config.weight_column, contract.target)
    return DatasetSplit(
        x.iloc[train_index],
        y[train_index],
        x.iloc[holdout_index],
        y[holdout_index],
        folds,
        None if weights is None else weights[train_index],
    )


def _sample_weights(labelled: pd.DataFrame, column: str, target: str) -> np.ndarray | None:
    """The weight column as float64, checked: finite, not negative, not all zero."""
    if column not in labelled.columns or column == target:
        return None
    weights: np.ndarray = pd.to_numeric(labelled[column], errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(weights) | (weights < 0)
    if bad.any() or not (weights > 0).any():
        problem = f"{int(bad.sum())} rows are missing, negative or not numbers" if bad.any() else "all are zero"
        raise DataError(f"sample weight column {column!r}: {problem}", details={"column": column})
    return weights


def _gate(
    leaderboard: list[Trial],
    split: DatasetSplit,
    contract: DataContract,
    config: TrainConfig,
    progress: Progress | None,
    began: float,
) -> tuple[Trial, bytes, np.ndarray]:
    """Refit candidates best first on the whole training split until one passes parity."""
    failed_families: dict[str, int] = {}
    checked: list[Trial] = []
    n_classes = len(contract.class_labels or [])
    for trial in (t for t in leaderboard if t.eligible):
        if trial.family in failed_families:
            trial.parity_status = "skipped"
            continue
        _stage(progress, f"refitting trial {trial.index} ({trial.family}) and checking ONNX parity", began, config)
        pipeline = candidate(contract, trial.family, trial.params, config.seed, config.n_jobs, config.derived)
        fit_pipeline(pipeline, split.train, split.y_train, config.n_jobs, split.w_train)
        with threadpool_limits(limits=config.n_jobs):
            reference = predict_output(pipeline, split.holdout, contract.task, n_classes)
        try:
            model = export_onnx(pipeline, contract)
            trial.parity = check_parity(
                reference, onnx_session(model), split.holdout, contract, config.parity_tolerance
            )
        except TrainingError as exc:
            trial.parity_status, trial.error = "failed", exc.message[:300]
            failed_families[trial.family] = trial.index
            checked.append(trial)
            continue
        checked.append(trial)
        if trial.parity.passed:
            trial.parity_status = "passed"
            return trial, model, reference
        trial.parity_status = "failed"
        failed_families[trial.family] = trial.index
    if not checked:
        errors = "; ".join(f"trial {t.index} {t.family}: {t.error}" for t in leaderboard if t.error)[:1000]
        raise TrainingError(f"no candidate could be trained on this data ({errors or 'the budget ran out'})")
    lines = [f"trial {t.index} {t.family}: {t.parity.describe() if t.parity else t.error}" for t in checked]
    raise TrainingError(
        "no candidate passed the ONNX parity gate, nothing was registered: " + "; ".join(lines),
        details={"candidates": [t.to_dict() for t in checked]},
    )


def _stage(progress: Progress | None, message: str, began: float, config: TrainConfig) -> None:
    if progress is not None:
        progress(SweepEvent("stage", message, time.monotonic() - began, config.time_budget, 0, config.max_trials))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def frame_sha256(frame: pd.DataFrame) -> str:
    hashed = pd.util.hash_pandas_object(frame, index=False).to_numpy()
    return hashlib.sha256(hashed.tobytes() + "\x00".join(map(str, frame.columns)).encode()).hexdigest()


def code_version() -> str:
    """The package version, plus the git commit when running from a checkout."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=Path(__file__).parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{driftloop.__version__}+{commit}" if commit else driftloop.__version__


def _round(value: float) -> float | None:
    return None if np.isnan(value) else round(float(value), 6)
