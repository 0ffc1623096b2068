"""Materialising training sets: source data plus labelled production records, held-out recent records,
an immutable Parquet snapshot named by its sha256, and the quality gate.

Holdouts are taken from the newest labelled records (the data the challenger will face); where
there are too few, from the source data by a seeded, stratified random draw, never the tail of
the file (a file sorted by the target would put one class in the holdout and none in training).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import orjson
import pandas as pd
from sklearn.model_selection import train_test_split
from sqlalchemy import Engine

from driftloop.contract import DataContract
from driftloop.errors import InvalidInputError, NotFoundError
from driftloop.registry import Registry
from driftloop.store.queries import labelled_predictions
from driftloop.train.dataset import load_table
from driftloop.trainingset import SINCE_CHANGE
from driftloop_features import quality
from driftloop_features.coverage import uncovered
from driftloop_features.strategy import DatasetRequest, QualityGate, Strategy

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"
TRAIN_FILE, HOLDOUT_FILE = "train.parquet", "holdout.parquet"


class QualityGateError(InvalidInputError):
    code = "quality_gate_failed"


@dataclass
class Parts:
    source: pd.DataFrame
    """Source rows trained on (weight 1)."""
    recent: pd.DataFrame
    """Labelled records trained on (since_change: the post-change ones)."""
    holdout: pd.DataFrame
    holdout_origin: str
    """labelled / since_change: the newest (post-change) labelled records; source / random: a seeded draw."""
    labelled: int
    older: pd.DataFrame = field(default_factory=pd.DataFrame)
    """since_change's floor fill: pre-change labelled records, then source rows (weight ``older_weight``)."""
    counts: dict[str, int] = field(default_factory=dict)
    """Row counts particular to the strategy, for the quality report."""


class SourceLoader(Protocol):
    """The model's source rows; None when it has none and ``required`` is False."""

    def __call__(self, *, required: bool = True) -> pd.DataFrame | None: ...


@dataclass
class BuiltSet:
    train: pd.DataFrame
    holdout: pd.DataFrame
    report: dict[str, Any]
    """The quality report, with the gate's verdict under ``gate``."""
    reasons: list[str]
    """Why the quality gate refused the set (empty: it passed)."""


def build_training_set(
    contract: DataContract,
    labelled: pd.DataFrame,
    times: pd.Series,
    source_rows: SourceLoader,
    strategy: Strategy,
    gate: QualityGate,
) -> BuiltSet:
    """The training set and holdout that ``strategy`` makes of the labelled records (oldest first, with
    their event times) and the source rows, checked against the contract and the quality gate.

    Pure: the service runs it on the store's labelled records, ``driftloop backtest`` on a replay's."""
    parts = _parts(contract, labelled, times, source_rows, strategy, gate)
    columns = [*contract.column_names, contract.target]
    missing_columns = [c for c in columns if c not in parts.source.columns] if len(parts.source) else []

    pieces = {"source": parts.source, "recent": parts.recent, "older": parts.older, "holdout": parts.holdout}
    checked, schema = _conform(pieces, contract)
    schema["missing_columns"] = missing_columns
    training_rows = [checked[p] for p in ("source", "recent", "older") if len(checked[p])]
    duplicates = int(pd.concat(training_rows).duplicated().sum()) if training_rows else 0
    train = _training_set(checked["source"], checked["recent"], checked["older"], strategy)
    holdout = checked["holdout"].reset_index(drop=True)

    rows = {
        "source": len(parts.source),
        "labelled": parts.labelled,
        "recent": len(parts.recent),
        "dropped": schema["violating_rows"],
        **parts.counts,
    }
    report = quality.report(train, holdout, contract, rows=rows, schema=schema, duplicates=duplicates)
    report["holdout_origin"] = parts.holdout_origin
    reasons = quality.gate_reasons(report, contract, gate)
    report["gate"] = {"passed": not reasons, "reasons": reasons, "thresholds": gate.model_dump()}
    return BuiltSet(train, holdout, report, reasons)


class Datasets:
    """Builds, stores and reads dataset snapshots under ``directory``."""

    def __init__(
        self,
        registry: Registry,
        engine: Engine,
        sources: Mapping[str, Path],
        directory: Path,
        gate: QualityGate,
        strategy: Strategy | None = None,
    ) -> None:
        self.registry, self.engine, self.sources = registry, engine, sources
        self.directory, self.gate, self.strategy = directory, gate, strategy or Strategy()

    def create(self, request: DatasetRequest) -> dict[str, Any]:
        """Materialise a set; QualityGateError (with the manifest of the refused set) when it fails the gate."""
        bundle = self.registry.resolve(request.model)
        contract, strategy, gate = bundle.contract, request.strategy or self.strategy, request.gate or self.gate
        labelled, times = _labelled_frame(labelled_predictions(self.engine, request.model), contract)
        built = build_training_set(contract, labelled, times, partial(self._source, request.model), strategy, gate)
        train, holdout, report, reasons = built.train, built.holdout, built.report, built.reasons

        train_bytes, holdout_bytes = _parquet(train), _parquet(holdout)
        digest = hashlib.sha256(train_bytes + b"\0" + holdout_bytes).hexdigest()
        manifest = {
            "id": digest,
            "model": request.model,
            "champion_version": bundle.version,
            "state": "failed" if reasons else "ready",
            "strategy": strategy.model_dump(mode="json"),
            "sha256": digest,
            "rows": {"train": len(train), "holdout": len(holdout)},
            "quality": report,
            "created": datetime.now(UTC).isoformat(timespec="seconds"),
        }
        manifest = self._store(manifest, None if reasons else (train_bytes, holdout_bytes))
        if reasons:
            raise QualityGateError(
                f"the training set for {request.model!r} fails the quality gate: {'; '.join(reasons)}",
                details={"dataset_id": digest, "reasons": reasons, "quality": report},
            )
        logger.info(
            "dataset %s for %s: %d training rows, %d holdout", digest[:12], request.model, len(train), len(holdout)
        )
        return manifest

    def get(self, dataset_id: str) -> dict[str, Any]:
        if len(dataset_id) != 64 or any(c not in "0123456789abcdef" for c in dataset_id):
            raise NotFoundError(f"no dataset {dataset_id!r}: an id is a sha256 in hex", details={"id": dataset_id})
        path = self.directory / dataset_id / MANIFEST
        if not path.exists():
            raise NotFoundError(f"no dataset {dataset_id!r}", details={"id": dataset_id})
        manifest: dict[str, Any] = orjson.loads(path.read_bytes())
        return manifest

    def _source(self, model: str, *, required: bool = True) -> pd.DataFrame | None:
        path = self.sources.get(model)
        if path is None and not required:
            return None
        if path is None:
            raise InvalidInputError(
                f"no source data is configured for model {model!r} (DRIFTLOOP_FEATURES__SOURCES)",
                details={"field": "strategy.kind", "model": model},
            )
        return load_table(path).reset_index(drop=True)

    def _store(self, manifest: dict[str, Any], files: tuple[bytes, bytes] | None) -> dict[str, Any]:
        """Write the snapshot once: a set that already exists is never rewritten (same bytes, same id)."""
        final = self.directory / manifest["id"]
        if (final / MANIFEST).exists():
            existing: dict[str, Any] = orjson.loads((final / MANIFEST).read_bytes())
            if existing["state"] == "ready" or files is None:
                return existing
        self.directory.mkdir(parents=True, exist_ok=True)
        staging = self.directory / f".staging-{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            if files is not None:
                manifest["train_path"] = str((final / TRAIN_FILE).resolve())
                manifest["holdout_path"] = str((final / HOLDOUT_FILE).resolve())
                for name, data in zip((TRAIN_FILE, HOLDOUT_FILE), files, strict=True):
                    (staging / name).write_bytes(data)
                    (staging / name).chmod(0o444)
            else:
                manifest["train_path"] = manifest["holdout_path"] = None
            (staging / MANIFEST).write_bytes(orjson.dumps(manifest, option=orjson.OPT_INDENT_2))
            if final.exists():  # a failed set's manifest, replaced by the ready one
                shutil.rmtree(final)
            os.replace(staging, final)
        except OSError:
            if not (final / MANIFEST).exists():
                raise
            # The same set, written by a concurrent request in between: identical content.
            written: dict[str, Any] = orjson.loads((final / MANIFEST).read_bytes())
            return written
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return manifest


def _parts(
    contract: DataContract,
    labelled: pd.DataFrame,
    times: pd.Series,
    source_rows: SourceLoader,
    strategy: Strategy,
    gate: QualityGate,
) -> Parts:
    if strategy.kind == SINCE_CHANGE:
        return _since_change(contract, labelled, times, source_rows, strategy, gate)
    loaded = source_rows() if strategy.kind != "recent" else None
    source = loaded if loaded is not None else pd.DataFrame()
    size = min(strategy.holdout or round(strategy.holdout_share * len(labelled)), len(labelled))
    trained_labels = labelled if strategy.kind != "source" else labelled.iloc[0:0]
    if len(source) and size < gate.min_holdout_rows:
        # No production labels, or too few to judge a challenger on: a seeded, stratified draw of source
        # rows (never the file's tail, which a file sorted by class fills with one class), and say so.
        kept, holdout = _random_holdout(
            source, contract, strategy.holdout or round(strategy.holdout_share * len(source)), strategy.seed
        )
        recent = trained_labels.iloc[-strategy.recent :] if strategy.recent else trained_labels
        return Parts(kept, recent, holdout, "source", len(labelled))
    holdout, earlier = labelled.iloc[len(labelled) - size :], labelled.iloc[: len(labelled) - size]
    recent = earlier.iloc[-strategy.recent :] if strategy.recent else earlier
    if strategy.kind == "source":
        recent = recent.iloc[0:0]
    return Parts(source, recent, holdout, "labelled", len(labelled))


def _since_change(
    contract: DataContract,
    labelled: pd.DataFrame,
    times: pd.Series,
    source_rows: SourceLoader,
    strategy: Strategy,
    gate: QualityGate,
) -> Parts:
    """Train on what the model will face after the change; the floor fill is older rows, weighted down."""
    assert strategy.since is not None  # the strategy's validator requires it for this kind
    after = (times >= pd.Timestamp(strategy.since).tz_convert("UTC")).to_numpy()
    post, before = labelled[after], labelled[~after]
    size = max(strategy.holdout or round(strategy.holdout_share * len(post)), gate.min_holdout_rows)
    enough = len(post) >= 2 * size  # as many post-change rows to learn from as to judge on
    train_post, holdout = (post.iloc[:-size], post.iloc[-size:]) if enough else (post, post.iloc[0:0])
    # Without a post-change holdout, the drawn holdout comes out of the floor too.
    missing = max(strategy.min_rows + (0 if enough else size) - len(train_post), 0)
    fill_labelled = before.iloc[len(before) - min(missing, len(before)) :]
    missing -= len(fill_labelled)
    fill_source = pd.DataFrame()
    if missing and (source := source_rows(required=False)) is not None:
        # A seeded draw rather than the file's last rows: the order of a file says nothing about time.
        fill_source = source.sample(n=min(missing, len(source)), random_state=strategy.seed).sort_index()
    if enough and strategy.older != "floor":
        source = source_rows(required=False)
        every_source = source if source is not None else fill_source
        if strategy.older == "all":
            fill_labelled, fill_source = before, every_source
        else:
            fill_labelled, fill_source = _with_uncovered(
                contract, train_post, (before, every_source), fill_labelled, fill_source
            )
    older = pd.concat([p for p in (fill_labelled, fill_source) if len(p)] or [labelled.iloc[0:0]])
    origin = "since_change"
    if not enough:
        # Too few post-change labels to hold the newest out: a seeded, stratified draw of the whole set.
        pool = pd.concat([train_post.assign(_older=False), older.assign(_older=True)], ignore_index=True)
        kept, holdout = _random_holdout(pool, contract, size, strategy.seed)
        train_post = kept[~kept["_older"]].drop(columns="_older")
        older = kept[kept["_older"]].drop(columns="_older")
        holdout, origin = holdout.drop(columns="_older"), "random"
    counts = {
        "since_change": len(post),
        "fill_labelled": len(fill_labelled),
        "fill_source": len(fill_source),
    }
    return Parts(pd.DataFrame(), train_post, holdout, origin, len(labelled), older, counts)


def _with_uncovered(
    contract: DataContract,
    post: pd.DataFrame,
    candidates: tuple[pd.DataFrame, pd.DataFrame],
    fill_labelled: pd.DataFrame,
    fill_source: pd.DataFrame,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The floor fill plus every older row (pre-change labelled, source) in a region of the inputs
    that the post-change rows do not reach (coverage.py)."""
    keep = uncovered(contract, post, pd.concat(candidates, ignore_index=True))
    labelled, source = candidates
    keep_labelled, keep_source = keep[: len(labelled)], keep[len(labelled) :]
    return _union(fill_labelled, labelled[keep_labelled]), _union(fill_source, source[keep_source])


def _union(fill: pd.DataFrame, extra: pd.DataFrame) -> pd.DataFrame:
    if not len(extra):
        return fill
    return pd.concat([fill, extra[~extra.index.isin(fill.index)]]).sort_index()


def _conform(pieces: dict[str, pd.DataFrame], contract: DataContract) -> tuple[dict[str, pd.DataFrame], dict[str, Any]]:
    """Each part without the rows that break the contract, one type per column; and what was dropped."""
    columns = [*contract.column_names, contract.target]
    checked: dict[str, pd.DataFrame] = {}
    examples: list[dict[str, Any]] = []
    by_column: dict[str, int] = {}
    violating = total = 0
    for origin, frame in pieces.items():
        bad, found, counts = quality.violations(frame, contract)
        violating += int(bad.sum())
        total += len(frame)
        examples += [{"part": origin, **e} for e in found][: quality.MAX_EXAMPLES - len(examples)]
        for column, count in counts.items():
            by_column[column] = by_column.get(column, 0) + count
        checked[origin] = quality.normalise(frame[~bad], contract) if len(frame) else _empty(columns)
    schema = {
        "violating_rows": violating,
        "violation_share": round(violating / total, 6) if total else 0.0,
        "by_column": by_column,
        "examples": examples,
    }
    return checked, schema


def _labelled_frame(rows: list[dict[str, Any]], contract: DataContract) -> tuple[pd.DataFrame, pd.Series]:
    """Labelled records, oldest first, one row per prediction (its latest label wins); and their event times (UTC)."""
    if not rows:
        return pd.DataFrame(), pd.Series(dtype="datetime64[ns, UTC]")
    meta = pd.DataFrame(
        {
            "event_id": [r["event_id"] for r in rows],
            "record_index": [r["record_index"] for r in rows],
            # The stored per-record time; a store without time zones (SQLite) holds UTC.
            "time": pd.to_datetime([r["time"] for r in rows], utc=True),
            "feedback_time": [r["feedback_time"] for r in rows],
        }
    )
    records = pd.DataFrame([r["record"] for r in rows])
    records[contract.target] = [r["actual"] for r in rows]
    frame = pd.concat([meta, records], axis=1)
    frame = frame.sort_values(["time", "record_index", "feedback_time"], kind="stable")
    frame = frame.drop_duplicates(["event_id", "record_index"], keep="last").reset_index(drop=True)
    times = frame["time"]
    return frame.drop(columns=["event_id", "record_index", "time", "feedback_time"]), times


def _random_holdout(
    frame: pd.DataFrame, contract: DataContract, size: int, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``frame`` split into (kept, held out ``size`` rows): seeded, stratified by class where every class
    can give a row to both sides; both in the frame's order, so the same seed gives the same bytes."""
    size = min(size, len(frame) - 1)
    if size < 1:
        return frame, frame.iloc[0:0]
    stratify = None
    if contract.task.is_classification and contract.target in frame.columns:
        labels = frame[contract.target].astype(str)
        classes = labels.nunique()
        if labels.value_counts().min() >= 2 and classes <= size <= len(frame) - classes:
            stratify = labels.to_numpy()
    kept, held = train_test_split(np.arange(len(frame)), test_size=size, random_state=seed, stratify=stratify)
    return frame.iloc[np.sort(kept)], frame.iloc[np.sort(held)]


def _training_set(source: pd.DataFrame, recent: pd.DataFrame, older: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    if strategy.kind == SINCE_CHANGE:
        # The floor fill teaches the old concept: it is marked by a lower weight (train/ honours the column).
        weight = strategy.older_weight
        if strategy.older == "all" and len(older):
            weight = min(1.0, strategy.older_share * max(len(recent), 1) / len(older))
        if len(older) and weight < 1:
            older = older.assign(**{strategy.weight_column: float(weight)})
            recent = recent.assign(**{strategy.weight_column: 1.0})
        source, recent = older, recent
    elif strategy.kind == "source+recent" and strategy.weighting == "column":
        source = source.assign(**{strategy.weight_column: 1.0})
        recent = recent.assign(**{strategy.weight_column: float(strategy.weight)})
    elif strategy.kind == "source+recent" and strategy.weight > 1:
        recent = pd.concat([recent] * int(strategy.weight))
    parts = [p for p in (source, recent) if len(p)]
    if not parts:
        return source.iloc[0:0].reset_index(drop=True)
    return pd.concat(parts, ignore_index=True)


def _empty(columns: list[str]) -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=object) for c in columns})


def _parquet(frame: pd.DataFrame) -> bytes:
    buffer = io.BytesIO()
    frame.to_parquet(buffer, index=False)
    return buffer.getvalue()
