"""Raw records (JSON objects) checked against a data contract, with errors that name the record and column."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from driftloop.contract import ColumnKind, ColumnSpec, DataContract
from driftloop.errors import InvalidInputError

_BOOLEAN_TEXT = {"true", "false", "yes", "no", "1", "0", "1.0", "0.0"}


def is_missing(value: Any) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def value_problem(spec: ColumnSpec, value: Any) -> str | None:
    """Why ``value`` cannot be this column's value, or None when it can (missing values can)."""
    if is_missing(value):
        return None
    if spec.kind is ColumnKind.NUMERIC:
        if isinstance(value, bool):
            return "expected a number, got a boolean"
        if not isinstance(value, int | float | str):
            return f"expected a number, got {type(value).__name__}"
        try:
            number = float(value)
        except ValueError:
            return f"expected a number, got {str(value)[:40]!r}"
        except OverflowError:  # an integer beyond float range
            return "expected a finite number"
        return None if math.isfinite(number) else "expected a finite number"
    if spec.kind is ColumnKind.BOOLEAN:
        if isinstance(value, bool) or (isinstance(value, int | float) and value in (0, 1)):
            return None
        if isinstance(value, str) and value.lower() in _BOOLEAN_TEXT:
            return None
        return f"expected a boolean, got {str(value)[:40]!r}"
    if isinstance(value, str | int | float | bool):
        return None
    return f"expected a category (text), got {type(value).__name__}"


def records_frame(records: Sequence[Any], contract: DataContract) -> pd.DataFrame:
    """The contract's columns of ``records``; InvalidInputError names the first bad record and column.

    A column absent from a record is missing (allowed when the contract says the column may be
    missing); columns the contract does not know are ignored.
    """
    rows: list[dict[str, Any]] = []
    for index, record in enumerate(records):
        if not isinstance(record, dict):
            raise InvalidInputError(
                f"record {index} is not an object", details={"record": index, "reason": "expected an object"}
            )
        row: dict[str, Any] = {}
        for spec in contract.columns:
            if spec.name not in record and not spec.nullable:
                raise InvalidInputError(
                    f"record {index}: column {spec.name!r} is missing",
                    details={"record": index, "column": spec.name, "reason": "missing"},
                )
            value = record.get(spec.name)
            problem = value_problem(spec, value)
            if problem is not None:
                raise InvalidInputError(
                    f"record {index}: column {spec.name!r}: {problem}",
                    details={"record": index, "column": spec.name, "reason": problem},
                )
            row[spec.name] = value
        rows.append(row)
    return pd.DataFrame(rows, columns=contract.column_names)
