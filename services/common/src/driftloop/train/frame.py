"""One canonical form of the inputs, shared by training, parity checks and the ONNX feeds.

Numeric values are rounded to float32 before scikit-learn sees them, so that the fitted pipeline
and the ONNX graph (which computes in float32) see exactly the same numbers; without this, tree
thresholds that fall between a float64 value and its float32 rounding flip predictions.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from driftloop.contract import MISSING_CATEGORY, ColumnKind, DataContract
from driftloop.errors import DataError

_BOOLEANS = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "1": 1.0, "0": 0.0, "1.0": 1.0, "0.0": 0.0}


def model_frame(frame: pd.DataFrame, contract: DataContract) -> pd.DataFrame:
    """The contract's columns, in order, as the pipeline is trained on them."""
    columns: dict[str, pd.Series] = {}
    for spec in contract.columns:
        if spec.name not in frame.columns:
            raise DataError(
                f"column {spec.name!r} of the contract is missing from the data", details={"column": spec.name}
            )
        series = frame[spec.name]
        if spec.kind is ColumnKind.CATEGORICAL:
            columns[spec.name] = _categorical(series)
        elif spec.kind is ColumnKind.BOOLEAN:
            columns[spec.name] = _boolean(series, spec.name)
        else:
            numeric = pd.to_numeric(series, errors="coerce")
            columns[spec.name] = numeric.astype(np.float32).astype(np.float64)
    return pd.DataFrame(columns, index=frame.index)


def onnx_feeds(frame: pd.DataFrame, contract: DataContract) -> dict[str, np.ndarray]:
    """A model frame (see ``model_frame``) as the ONNX graph's inputs, one ``[N, 1]`` array per column."""
    feeds: dict[str, np.ndarray] = {}
    for spec in contract.columns:
        values = frame[spec.name].to_numpy()
        if spec.kind is ColumnKind.CATEGORICAL:
            feeds[spec.name] = values.astype(str).reshape(-1, 1)
        else:
            feeds[spec.name] = values.astype(np.float32).reshape(-1, 1)
    return feeds


def encode_target(target: pd.Series, contract: DataContract) -> np.ndarray:
    """Class labels to their index in ``contract.class_labels``; regression targets to float64."""
    if not contract.task.is_classification:
        values: np.ndarray = pd.to_numeric(target).to_numpy(dtype=np.float64)
        return values
    labels = contract.class_labels or []
    index: dict[object, int] = {label: i for i, label in enumerate(labels)}
    try:
        return np.array([index[_plain(v)] for v in target], dtype=np.int64)
    except KeyError as exc:
        raise DataError(
            f"target value {exc.args[0]!r} is not one of the model's classes {labels}",
            details={"column": contract.target},
        ) from None


def _plain(value: object) -> object:
    return value.item() if isinstance(value, np.generic) else value


def _categorical(series: pd.Series) -> pd.Series:
    text = series.astype(object).where(series.notna(), MISSING_CATEGORY)
    return text.map(_category_text).astype(object)


def _category_text(value: object) -> str:
    # Integral floats (a CSV column of codes with gaps reads as 1.0, 2.0) are their integer text,
    # so that "1" from a JSON request and 1.0 from the training file are the same category.
    if isinstance(value, float | np.floating) and float(value).is_integer():
        return str(int(value))
    return str(value)


def _boolean(series: pd.Series, name: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(series) or pd.api.types.is_numeric_dtype(series):
        return series.astype(np.float64)
    lowered = series.astype(str).str.lower().where(series.notna())
    mapped = lowered.map(_BOOLEANS)
    unknown = lowered.notna() & mapped.isna()
    if unknown.any():
        raise DataError(f"column {name!r} is boolean but holds {series[unknown].iloc[0]!r}", details={"column": name})
    return mapped.astype(np.float64)
