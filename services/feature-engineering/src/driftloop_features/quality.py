"""Data quality of a training set against the champion's contract: conformance, the report, the gate."""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pandas as pd

from driftloop.contract import ColumnKind, DataContract
from driftloop_features.records import is_missing, value_problem
from driftloop_features.strategy import QualityGate

MAX_EXAMPLES = 5


def label_problem(contract: DataContract, value: Any) -> str | None:
    if is_missing(value):
        return "no label"
    if contract.task.is_classification:
        return None if class_label(contract, value) is not None else f"label {value!r} is not a class of the model"
    try:
        return None if np.isfinite(float(value)) else "label is not finite"
    except (TypeError, ValueError, OverflowError):
        return f"label {value!r} is not a number"


def class_label(contract: DataContract, value: Any) -> Any:
    """The contract's class label that ``value`` stands for (1, "1" and 1.0 are the same), or None."""
    for label in contract.class_labels or []:
        if value == label or str(value).lower() == str(label).lower():
            return label
    if isinstance(value, float) and value.is_integer():
        return class_label(contract, int(value))
    return None


def violations(frame: pd.DataFrame, contract: DataContract) -> tuple[pd.Series, list[dict[str, Any]], Counter[str]]:
    """Which rows break the contract, a few examples, and the count per column."""
    bad = pd.Series(False, index=frame.index)
    examples: list[dict[str, Any]] = []
    per_column: Counter[str] = Counter()
    specs = {spec.name: spec for spec in contract.columns}
    for column in [*specs, contract.target]:
        if column not in frame.columns:
            continue  # a column absent from the data is reported as missing, not row by row
        spec = specs.get(column)
        for position, (index, value) in enumerate(frame[column].items()):
            problem = value_problem(spec, value) if spec is not None else label_problem(contract, value)
            if problem is None:
                continue
            bad.iloc[position] = True
            per_column[column] += 1
            if len(examples) < MAX_EXAMPLES:
                examples.append({"row": int(index), "column": column, "reason": problem})
    return bad, examples, per_column


def normalise(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """One type per column (Parquet needs it), keeping missing values missing; rows must conform."""
    columns: dict[str, pd.Series] = {}
    for spec in contract.columns:
        series = frame[spec.name] if spec.name in frame.columns else pd.Series(None, index=frame.index, dtype=object)
        if spec.kind is ColumnKind.NUMERIC:
            columns[spec.name] = pd.to_numeric(series, errors="coerce").astype("float64")
        elif spec.kind is ColumnKind.BOOLEAN:
            columns[spec.name] = series.map(_boolean, na_action="ignore").astype("boolean")
        else:
            columns[spec.name] = series.map(_category, na_action="ignore").astype(object)
    target = frame[contract.target] if contract.target in frame.columns else pd.Series(None, index=frame.index)
    if contract.task.is_classification:
        labels = target.map(lambda v: class_label(contract, v))
        columns[contract.target] = labels.infer_objects()
    else:
        columns[contract.target] = pd.to_numeric(target).astype("float64")
    return pd.DataFrame(columns, index=frame.index)


def _boolean(value: Any) -> bool:
    return str(value).lower() in {"true", "yes", "1", "1.0"}


def _category(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def report(
    train: pd.DataFrame,
    holdout: pd.DataFrame,
    contract: DataContract,
    *,
    rows: dict[str, int],
    schema: dict[str, Any],
    duplicates: int,
) -> dict[str, Any]:
    """Row counts, schema conformance, missing rates, label balance and duplicates of a training set."""
    unseen: dict[str, int] = {}
    for spec in contract.columns:
        if spec.kind is ColumnKind.CATEGORICAL and spec.categories is not None:
            values = pd.concat([train[spec.name], holdout[spec.name]]).dropna()
            count = int((~values.isin(spec.categories)).sum())
            if count:
                unseen[spec.name] = count
    return {
        "rows": {**rows, "train": len(train), "holdout": len(holdout)},
        "schema": {**schema, "unseen_categories": unseen},
        "missing_rates": {
            c: round(float(train[c].isna().mean()), 6) if len(train) else 1.0 for c in contract.column_names
        },
        "label_balance": {"train": _balance(train[contract.target]), "holdout": _balance(holdout[contract.target])},
        "duplicates": duplicates,
    }


def _balance(labels: pd.Series) -> dict[str, float]:
    if labels.empty:
        return {}
    if not pd.api.types.is_object_dtype(labels) and labels.nunique() > 50:
        return {}  # a regression target has no balance to speak of
    shares = labels.value_counts(normalize=True, sort=False)
    return {str(k): round(float(v), 6) for k, v in sorted(shares.items(), key=lambda kv: str(kv[0]))}


def gate_reasons(quality: dict[str, Any], contract: DataContract, gate: QualityGate) -> list[str]:
    """Why this set must not be handed out (empty: it passes)."""
    reasons: list[str] = []
    rows, schema = quality["rows"], quality["schema"]
    if rows["train"] < gate.min_train_rows:
        reasons.append(f"too few training rows: {rows['train']} < {gate.min_train_rows}")
    if rows["holdout"] < gate.min_holdout_rows:
        reasons.append(f"too few holdout rows: {rows['holdout']} < {gate.min_holdout_rows}")
    if schema["violation_share"] > gate.max_violation_share:
        reasons.append(
            f"{schema['violating_rows']} rows ({schema['violation_share']:.1%}) break the contract"
            f" (at most {gate.max_violation_share:.1%}): {schema['by_column']}"
        )
    if schema["missing_columns"]:
        reasons.append(f"columns of the contract absent from the data: {schema['missing_columns']}")
    entirely_missing = [c for c, rate in quality["missing_rates"].items() if rate > gate.max_missing_rate]
    if entirely_missing and rows["train"]:
        reasons.append(f"columns entirely missing in the training set: {entirely_missing}")
    if contract.task.is_classification:
        for part in ("train", "holdout"):
            balance = quality["label_balance"][part]
            if len(balance) == 1:
                reasons.append(f"the {part} set has a single class ({next(iter(balance))})")
        train_balance = quality["label_balance"]["train"]
        if len(train_balance) > 1:
            for label in contract.class_labels or []:
                share = train_balance.get(str(label), 0.0)
                if share < gate.min_class_share:
                    reasons.append(
                        f"class {label!r} is {share:.2%} of the training set (at least {gate.min_class_share:.2%})"
                    )
    return reasons
