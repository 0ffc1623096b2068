"""Materialising training sets: source data plus labelled production records, held-out recent records,
an immutable Parquet snapshot named by its sha256, and the quality gate."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pandas as pd
from sqlalchemy import Engine

from driftloop.contract import DataContract
from driftloop.errors import InvalidInputError, NotFoundError
from driftloop.registry import Registry
from driftloop.store.queries import labelled_predictions
from driftloop.train.dataset import load_table
from driftloop_features import quality
from driftloop_features.strategy import DatasetRequest, QualityGate, Strategy

logger = logging.getLogger(__name__)
MANIFEST = "manifest.json"
TRAIN_FILE, HOLDOUT_FILE = "train.parquet", "holdout.parquet"


class QualityGateError(InvalidInputError):
    code = "quality_gate_failed"


@dataclass
class Parts:
    source: pd.DataFrame
    recent: pd.DataFrame
    holdout: pd.DataFrame
    holdout_origin: str
    labelled: int


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
        parts = self._parts(request.model, contract, strategy)
        columns = [*contract.column_names, contract.target]
        missing_columns = [c for c in columns if c not in parts.source.columns] if len(parts.source) else []

        pieces = {"source": parts.source, "recent": parts.recent, "holdout": parts.holdout}
        checked, schema = _conform(pieces, contract)
        schema["missing_columns"] = missing_columns
        training_rows = [p for p in (checked["source"], checked["recent"]) if len(p)]
        duplicates = int(pd.concat(training_rows).duplicated().sum()) if training_rows else 0
        train = _training_set(checked["source"], checked["recent"], strategy)
        holdout = checked["holdout"].reset_index(drop=True)

        rows = {
            "source": len(parts.source),
            "labelled": parts.labelled,
            "recent": len(parts.recent),
            "dropped": schema["violating_rows"],
        }
        report = quality.report(train, holdout, contract, rows=rows, schema=schema, duplicates=duplicates)
        report["holdout_origin"] = parts.holdout_origin
        reasons = quality.gate_reasons(report, contract, gate)
        report["gate"] = {"passed": not reasons, "reasons": reasons, "thresholds": gate.model_dump()}

        train_bytes, holdout_bytes = _parquet(train), _parquet(holdout)
        digest = hashlib.sha256(train_bytes + b"\0" + holdout_bytes).hexdigest()
        manifest = {
            "id": digest,
            "model": request.model,
            "champion_version": bundle.version,
            "state": "failed" if reasons else "ready",
            "strategy": strategy.model_dump(),
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

    def _parts(self, model: str, contract: DataContract, strategy: Strategy) -> Parts:
        labelled = _labelled_frame(labelled_predictions(self.engine, model), contract)
        source = self._source(model) if strategy.kind != "recent" else pd.DataFrame()
        if labelled.empty:
            # No production labels yet: hold out the tail of the source instead, and say so.
            size = strategy.holdout or round(strategy.holdout_share * len(source))
            cut = max(len(source) - size, 0)
            return Parts(source.iloc[:cut], labelled, source.iloc[cut:], "source", 0)
        size = min(strategy.holdout or round(strategy.holdout_share * len(labelled)), len(labelled))
        holdout, earlier = labelled.iloc[len(labelled) - size :], labelled.iloc[: len(labelled) - size]
        recent = earlier.iloc[-strategy.recent :] if strategy.recent else earlier
        if strategy.kind == "source":
            recent = recent.iloc[0:0]
        return Parts(source, recent, holdout, "labelled", len(labelled))

    def _source(self, model: str) -> pd.DataFrame:
        path = self.sources.get(model)
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


def _labelled_frame(rows: list[dict[str, Any]], contract: DataContract) -> pd.DataFrame:
    """Labelled records, oldest first, one row per prediction (its latest label wins)."""
    if not rows:
        return pd.DataFrame()
    meta = pd.DataFrame(
        {
            "event_id": [r["event_id"] for r in rows],
            "record_index": [r["record_index"] for r in rows],
            "time": [r["time"] for r in rows],
            "feedback_time": [r["feedback_time"] for r in rows],
        }
    )
    records = pd.DataFrame([r["record"] for r in rows])
    records[contract.target] = [r["actual"] for r in rows]
    frame = pd.concat([meta, records], axis=1)
    frame = frame.sort_values(["time", "record_index", "feedback_time"], kind="stable")
    frame = frame.drop_duplicates(["event_id", "record_index"], keep="last")
    return frame.drop(columns=["event_id", "record_index", "time", "feedback_time"]).reset_index(drop=True)


def _training_set(source: pd.DataFrame, recent: pd.DataFrame, strategy: Strategy) -> pd.DataFrame:
    if strategy.kind == "source+recent" and strategy.weighting == "column":
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
