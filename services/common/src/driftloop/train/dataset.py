"""Reading a tabular file and inferring its data contract, with errors that name the column."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from driftloop.contract import ColumnKind, ColumnSpec, DataContract, Task
from driftloop.errors import DataError

# An integer target with at most this many distinct values is read as classes.
MAX_CLASSES_FOR_INTEGER_TARGET = 20
_BOOLEAN_STRINGS = {"true": True, "false": False, "yes": True, "no": False}
_READERS = {
    ".csv": pd.read_csv,
    ".tsv": lambda p: pd.read_csv(p, sep="\t"),
    ".txt": pd.read_csv,
    ".parquet": pd.read_parquet,
    ".pq": pd.read_parquet,
}


def load_table(path: Path | str) -> pd.DataFrame:
    """Read a CSV/TSV (optionally compressed) or Parquet file into a data frame."""
    path = Path(path)
    if not path.is_file():
        raise DataError(f"cannot read {path}: no such file")
    suffixes = [s for s in path.suffixes if s not in {".gz", ".bz2", ".zst", ".xz", ".zip"}]
    reader = _READERS.get(suffixes[-1].lower() if suffixes else "")
    if reader is None:
        raise DataError(f"cannot read {path}: expected a .csv, .tsv or .parquet file")
    try:
        frame = reader(path)
    except pd.errors.EmptyDataError:
        raise DataError(f"{path} is empty: it has no header and no rows") from None
    except Exception as exc:  # every reader failure is the same thing to the user
        raise DataError(f"cannot read {path}: {exc}") from None
    if frame.empty:
        raise DataError(f"{path} has no data rows (columns: {list(frame.columns)[:10]})")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def infer_contract(
    frame: pd.DataFrame,
    target: str,
    *,
    task: Task | str | None = None,
    drop: Iterable[str] = (),
    kinds: Mapping[str, ColumnKind | str] | None = None,
) -> DataContract:
    """Infer each column's kind, missingness, categories and range, and the task from the target.

    ``drop`` and ``kinds`` are the user's overrides (from ``--config``); identifier-like
    columns (unique text per row) and timestamps are dropped automatically.
    """
    if target not in frame.columns:
        raise DataError(
            f"target column {target!r} is not in the data; columns are: {', '.join(map(str, frame.columns))}",
            details={"column": target},
        )
    kind_overrides = {name: ColumnKind(kind) for name, kind in (kinds or {}).items()}
    drop = list(drop)
    for name in [*drop, *kind_overrides]:
        if name not in frame.columns:
            raise DataError(
                f"the configuration names column {name!r}, which is not in the data", details={"column": name}
            )
    labelled = frame[frame[target].notna()]
    if labelled.empty:
        raise DataError(f"target column {target!r} has no values", details={"column": target})
    resolved_task = _resolve_task(labelled[target], Task(task) if task else None, target)

    dropped = list(drop)
    columns: list[ColumnSpec] = []
    for name in frame.columns:
        if name == target or name in drop:
            continue
        series = frame[name]
        if series.isna().all():
            raise DataError(
                f"column {name!r} is entirely empty: drop it in the configuration or fill it", details={"column": name}
            )
        kind = kind_overrides.get(name) or _infer_kind(series)
        if kind is None:
            dropped.append(name)
            continue
        columns.append(_column_spec(name, series, kind))
    if not columns:
        raise DataError("no input columns are left besides the target")

    class_labels = None
    if resolved_task.is_classification:
        class_labels = sorted(labelled[target].unique().tolist(), key=lambda v: (str(type(v)), v))
    return DataContract(
        columns=columns, target=target, task=resolved_task, class_labels=_plain(class_labels), dropped_columns=dropped
    )


def _resolve_task(target: pd.Series, requested: Task | None, name: str) -> Task:
    n_classes = target.nunique()
    numeric = pd.api.types.is_numeric_dtype(target) and not pd.api.types.is_bool_dtype(target)
    integral = numeric and bool(np.all(np.mod(target.to_numpy(dtype=float), 1) == 0))
    if requested is Task.REGRESSION:
        if not numeric:
            raise DataError(
                f"task 'regression' needs a numeric target, but {name!r} holds text or booleans",
                details={"column": name},
            )
        if n_classes < 2:
            raise DataError(f"target column {name!r} has a single value: nothing to learn", details={"column": name})
        return Task.REGRESSION
    if requested is None and numeric and (not integral or n_classes > MAX_CLASSES_FOR_INTEGER_TARGET):
        return Task.REGRESSION if n_classes >= 2 else _one_class(name, target)
    if n_classes < 2:
        _one_class(name, target)
    if numeric and not integral:
        raise DataError(
            f"task {requested} needs class labels, but {name!r} holds continuous numbers", details={"column": name}
        )
    if requested is Task.BINARY and n_classes != 2:
        raise DataError(f"task 'binary' needs 2 classes, but {name!r} has {n_classes}", details={"column": name})
    if requested is Task.MULTICLASS and n_classes < 3:
        raise DataError(
            f"task 'multiclass' needs 3 or more classes, but {name!r} has {n_classes}", details={"column": name}
        )
    return requested or (Task.BINARY if n_classes == 2 else Task.MULTICLASS)


def _one_class(name: str, target: pd.Series) -> Task:
    raise DataError(
        f"target column {name!r} has a single class ({target.iloc[0]!r}): nothing to learn", details={"column": name}
    )


def _infer_kind(series: pd.Series) -> ColumnKind | None:
    """None means: not a model input (an identifier or a timestamp)."""
    values = series.dropna()
    if pd.api.types.is_bool_dtype(series) or _is_boolean_text(values):
        return ColumnKind.BOOLEAN
    if pd.api.types.is_datetime64_any_dtype(series):
        return None
    if pd.api.types.is_numeric_dtype(series):
        return ColumnKind.NUMERIC
    text = values.astype(str)
    if len(text) >= 20 and text.nunique() == len(text):
        return None  # a unique value per row is an identifier, not a feature
    if len(text) >= 20 and _looks_like_timestamps(text):
        return None
    return ColumnKind.CATEGORICAL


def _is_boolean_text(values: pd.Series) -> bool:
    if pd.api.types.is_numeric_dtype(values) or values.empty:
        return False
    return set(values.astype(str).str.lower().unique()) <= set(_BOOLEAN_STRINGS)


def _looks_like_timestamps(text: pd.Series) -> bool:
    sample = text.head(50)
    if not sample.str.contains(r"\d{4}-\d{2}-\d{2}").all():
        return False
    parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().all())


def _column_spec(name: str, series: pd.Series, kind: ColumnKind) -> ColumnSpec:
    missing_rate = float(series.isna().mean())
    spec = ColumnSpec(name=name, kind=kind, nullable=missing_rate > 0, missing_rate=round(missing_rate, 6))
    if kind is ColumnKind.CATEGORICAL:
        spec.categories = sorted(series.dropna().astype(str).unique().tolist())
    elif kind is ColumnKind.NUMERIC:
        try:
            values = pd.to_numeric(series, errors="raise").dropna()
        except (ValueError, TypeError):
            raise DataError(
                f"column {name!r} is configured as numeric but holds text", details={"column": name}
            ) from None
        spec.minimum, spec.maximum = float(values.min()), float(values.max())
    return spec


def _plain(values: list[object] | None) -> list[str | int | float | bool] | None:
    """numpy scalars to Python scalars, so the contract serialises to plain JSON."""
    if values is None:
        return None
    return [v.item() if isinstance(v, np.generic) else v for v in values]  # type: ignore[misc]
