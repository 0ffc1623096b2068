"""Record validation compiled from a data contract, straight into the ONNX feeds.

Everything that depends only on the contract (column order, kinds, category sets, ranges) is
worked out once per model; a request costs one pass over its values. Problems are collected
(up to a limit) so that one 422 names every record, column and reason a caller must fix.
Values unseen in training (new categories, numbers outside the training range) are valid: they
are scored and reported back as drift signals.

A non-finite number (``NaN``, ``Infinity``, ``-Infinity``: what pandas, numpy and tritonclient write
for a missing number) is a missing value, like ``null``: accepted where the column is nullable,
refused with its own reason where it is not.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from driftloop.contract import MISSING_CATEGORY, ColumnKind, DataContract
from driftloop.telemetry.bounds import text_problem, unstorable

from .errors import PayloadTooLargeError, RecordValidationError

FLOAT32_MAX = float(np.finfo(np.float32).max)
NAN = math.nan
_ABSENT = object()
_BOOLEANS = {"true": 1.0, "false": 0.0, "yes": 1.0, "no": 0.0, "1": 1.0, "0": 0.0}
# V2 datatypes a numeric or boolean column accepts (the metadata advertises FP32).
V2_NUMERIC_TYPES = frozenset(
    {"BOOL", "FP16", "FP32", "FP64", "INT8", "INT16", "INT32", "INT64", "UINT8", "UINT16", "UINT32", "UINT64"}
)


class BadValue(Exception):
    """One value that cannot be used; the message is the reason shown to the caller."""


@dataclass(frozen=True)
class Column:
    name: str
    kind: ColumnKind
    nullable: bool
    categories: frozenset[str]
    minimum: float
    maximum: float


@dataclass
class Batch:
    """Validated records as ONNX feeds, with the values that training never saw."""

    feeds: dict[str, np.ndarray]
    size: int
    unseen: list[dict[str, Any]] = field(default_factory=list)


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, dict):
        return "an object"
    if isinstance(value, list):
        return "a list"
    return f"a {type(value).__name__}"


def coerce_numeric(value: Any) -> float:
    kind = type(value)
    number: float
    if kind is float:
        number = value
    elif kind is int:
        try:
            number = float(value)
        except OverflowError:
            raise BadValue("is too large for a float32 number") from None
    elif kind is str:
        try:
            number = float(value)
        except ValueError:
            raise BadValue(f"{value[:40]!r} cannot be read as a number") from None
    else:
        raise BadValue(f"expected a number, got {_json_type(value)}")
    if not -FLOAT32_MAX <= number <= FLOAT32_MAX:  # also false for NaN
        raise BadValue("is not a finite float32 number")
    return number


def coerce_boolean(value: Any) -> float:
    if value is True or value is False:
        return 1.0 if value else 0.0
    if type(value) in (int, float) and value in (0, 1):
        return float(value)
    if type(value) is str and value.strip().lower() in _BOOLEANS:
        return _BOOLEANS[value.strip().lower()]
    raise BadValue(f"expected true or false, got {_json_type(value)} {str(value)[:40]!r}")


def coerce_category(value: Any) -> str:
    kind = type(value)
    if kind is str:
        return value  # type: ignore[no-any-return]
    if kind is int or kind is bool:
        return str(value)
    if kind is float:
        # As in training (driftloop.train.frame): an integral float is its integer text.
        return str(int(value)) if value.is_integer() else str(value)
    raise BadValue(f"expected a category (text), got {_json_type(value)}")


def _missing_reason(value: Any) -> str:
    """Why a missing value is refused in a column that is not nullable."""
    if value is _ABSENT:
        return "is required"
    if value is None:
        return "may not be null"
    text = "NaN" if math.isnan(value) else ("Infinity" if value > 0 else "-Infinity")
    return f"may not be {text}, which stands for a missing value, and the column is required"


class RecordValidator:
    """Checks records against one contract and turns them into the graph's ``[N, 1]`` inputs."""

    def __init__(
        self,
        contract: DataContract,
        *,
        max_records: int = 1000,
        extra_columns: Literal["reject", "ignore"] = "reject",
        max_details: int = 20,
    ) -> None:
        self.columns = [
            Column(
                name=spec.name,
                kind=spec.kind,
                nullable=spec.nullable,
                categories=frozenset(spec.categories or ()),
                minimum=spec.minimum if spec.minimum is not None else -math.inf,
                maximum=spec.maximum if spec.maximum is not None else math.inf,
            )
            for spec in contract.columns
        ]
        # (low, high) within which a JSON number needs no further check; empty for non-numeric columns.
        # Never wider than float32's finite range: Infinity and overflowing numbers take the slow path.
        self._fast_ranges = [
            (max(c.minimum, -FLOAT32_MAX), min(c.maximum, FLOAT32_MAX))
            if c.kind is ColumnKind.NUMERIC
            else (math.inf, -math.inf)
            for c in self.columns
        ]
        self._numeric = [i for i, c in enumerate(self.columns) if c.kind is not ColumnKind.CATEGORICAL]
        self._categorical = [i for i, c in enumerate(self.columns) if c.kind is ColumnKind.CATEGORICAL]
        self.max_records = max_records
        self.reject_extra = extra_columns == "reject"
        self.max_details = max_details
        self._inputs = frozenset(spec.name for spec in contract.columns)
        self._allowed = self._inputs | set(contract.dropped_columns) | {contract.target}

    def validate(self, records: Any) -> Batch:
        """``records`` as parsed from JSON: a list of objects."""
        if not isinstance(records, list):
            raise RecordValidationError(
                "'records' must be a list of objects", details=[{"field": "records", "reason": "not a list"}]
            )
        self._check_size(len(records))
        columns = self.columns
        fast = self._fast_ranges
        values: list[list[Any]] = [[] for _ in columns]
        problems: list[dict[str, Any]] = []
        unseen: list[dict[str, Any]] = []
        for index, record in enumerate(records):
            if type(record) is not dict:
                problems.append({"record": index, "column": None, "reason": "a record must be a JSON object"})
            else:
                found = 0
                for position, column in enumerate(columns):
                    value = record.get(column.name, _ABSENT)
                    kind = type(value)
                    # Fast paths (most values): an in-range number, a known category.
                    if kind is float or kind is int:
                        low, high = fast[position]
                        if low <= value <= high:
                            found += 1
                            values[position].append(value)
                            continue
                    elif kind is str and value in column.categories:
                        found += 1
                        values[position].append(value)
                        continue
                    if value is not _ABSENT:
                        found += 1
                    values[position].append(self._coerce(column, value, index, problems, unseen))
                if found != len(record):  # names beyond the inputs: refused, or kept as they are
                    self._check_extras(record, index, problems)
            if len(problems) >= self.max_details:
                break
        self._raise_if(problems)
        return Batch(self._feeds(values), len(records), unseen)

    def validate_columns(self, tensors: dict[str, list[Any]], size: int) -> Batch:
        """Column-wise input (the V2 protocol's tensors), each list ``size`` long; absent columns missing."""
        self._check_size(size)
        problems: list[dict[str, Any]] = []
        unseen: list[dict[str, Any]] = []
        values: list[list[Any]] = []
        for column in self.columns:
            data: Iterable[Any] = tensors.get(column.name, [_ABSENT] * size)
            values.append([self._coerce(column, value, index, problems, unseen) for index, value in enumerate(data)])
            if len(problems) >= self.max_details:
                break
        self._raise_if(problems)
        return Batch(self._feeds(values), size, unseen)

    def _check_extras(self, record: dict[str, Any], index: int, problems: list[dict[str, Any]]) -> None:
        """Fields other than the inputs: not allowed (``extra_columns="reject"``), or recorded as sent
        in the prediction event, so they must be text the telemetry store can hold."""
        for name, value in record.items():
            if name in self._inputs:
                continue
            if self.reject_extra and name not in self._allowed:
                problems.append({"record": index, "column": name, "reason": "not an input of this model"})
            elif (problem := text_problem(name) or unstorable(value)) is not None:
                problems.append({"record": index, "column": name, "reason": problem})

    def _check_size(self, size: int) -> None:
        if size == 0:
            raise RecordValidationError("the request has no records", details=[{"reason": "empty batch"}])
        if size > self.max_records:
            raise PayloadTooLargeError(
                f"the request has {size} records; the limit is {self.max_records}",
                details=[{"reason": "batch too large", "records": size, "limit": self.max_records}],
            )

    @staticmethod
    def _coerce(
        column: Column, value: Any, index: int, problems: list[dict[str, Any]], unseen: list[dict[str, Any]]
    ) -> Any:
        kind = column.kind
        if value is None or value is _ABSENT or (type(value) is float and not math.isfinite(value)):
            if not column.nullable:
                problems.append({"record": index, "column": column.name, "reason": _missing_reason(value)})
            return MISSING_CATEGORY if kind is ColumnKind.CATEGORICAL else NAN
        try:
            if kind is ColumnKind.NUMERIC:
                number = coerce_numeric(value)
                if not column.minimum <= number <= column.maximum:
                    unseen.append({"record": index, "column": column.name, "reason": "range"})
                return number
            if kind is ColumnKind.BOOLEAN:
                return coerce_boolean(value)
            category = coerce_category(value)
        except BadValue as exc:
            problems.append({"record": index, "column": column.name, "reason": str(exc)})
            return None
        if category not in column.categories and category != MISSING_CATEGORY:
            # Only values training never saw get here: the only text that can hold NUL is checked, off the fast path.
            if (problem := text_problem(category)) is not None:
                problems.append({"record": index, "column": column.name, "reason": problem})
                return None
            unseen.append({"record": index, "column": column.name, "reason": "category"})
        return category

    def _raise_if(self, problems: list[dict[str, Any]]) -> None:
        if not problems:
            return
        problems = problems[: self.max_details]
        first = problems[0]
        where = f"record {first['record']}" + (f", column {first['column']!r}" if first.get("column") else "")
        more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
        raise RecordValidationError(f"{where}: {first['reason']}{more}", details=problems)

    def _feeds(self, values: list[list[Any]]) -> dict[str, np.ndarray]:
        """One array per kind, one row per column, then a contiguous ``[N, 1]`` view per input."""
        feeds: dict[str, np.ndarray] = {}
        for positions, dtype in ((self._numeric, np.float32), (self._categorical, object)):
            if not positions:
                continue
            block = np.array([values[i] for i in positions], dtype=dtype)
            for row, position in enumerate(positions):
                feeds[self.columns[position].name] = block[row].reshape(-1, 1)
        return feeds
