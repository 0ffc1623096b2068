"""Feedback: ground truth for earlier predictions, matched against a bounded memory of recent request ids."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from driftloop.contract import DataContract
from driftloop.eventtime import BadEventTime, seconds_of
from driftloop.telemetry.bounds import MAX_NAME, MAX_RECORD_INDEX, text_problem

from .errors import PayloadTooLargeError, RecordValidationError
from .validation import BadValue, coerce_numeric


class RecentRequests:
    """The last ``capacity`` request ids answered, with their record counts (oldest forgotten first)."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self._sizes: OrderedDict[str, int] = OrderedDict()

    def remember(self, request_id: str, size: int) -> None:
        self._sizes[request_id] = size
        if len(self._sizes) > self.capacity:
            self._sizes.popitem(last=False)

    def size_of(self, request_id: str) -> int | None:
        return self._sizes.get(request_id)

    def __len__(self) -> int:
        return len(self._sizes)


@dataclass(frozen=True)
class FeedbackItem:
    request_id: str
    record_index: int | None
    actual: Any
    event_time: str | float | None = None
    """When the label became known, as sent (checked by driftloop.eventtime); None: when the service took it."""


def parse_feedback(payload: Any, contract: DataContract, *, max_items: int) -> list[FeedbackItem]:
    """One item, or a list of them: ``{"request_id", "actual", "record_index"?, "event_time"?}`` or
    ``{"id", "actual", "event_time"?}``.

    ``id`` is a per-record id as predict returns it (``<request_id>:<record index>``).

    ``actual`` must be one of the model's class labels (classifiers) or a number (regressors).
    """
    items = payload if isinstance(payload, list) else [payload]
    if not items:
        raise RecordValidationError("the request has no feedback items", details=[{"reason": "empty batch"}])
    if len(items) > max_items:
        raise PayloadTooLargeError(f"the request has {len(items)} feedback items; the limit is {max_items}")
    labels = {str(label): label for label in contract.class_labels or []}
    parsed: list[FeedbackItem] = []
    problems: list[dict[str, Any]] = []
    for index, item in enumerate(items):
        try:
            parsed.append(_item(item, labels, contract.task.is_classification))
        except BadValue as exc:
            field, reason = exc.args
            problems.append({"record": index, "column": field, "reason": reason})
    if problems:
        first = problems[0]
        raise RecordValidationError(
            f"feedback item {first['record']}, field {first['column']!r}: {first['reason']}", details=problems[:20]
        )
    return parsed


# A record index as text: ASCII digits only (str.isdigit() also takes '²' and '٢'), at most as many as
# MAX_RECORD_INDEX has, so that int() never sees a long string.
_INDEX_DIGITS = len(str(MAX_RECORD_INDEX))
_ID_FORM = "expected '<request_id>:<record index>' as returned by predict"


def _item(item: Any, labels: dict[str, Any], classification: bool) -> FeedbackItem:
    if type(item) is not dict:
        raise BadValue(None, "a feedback item must be a JSON object")
    record_index = item.get("record_index")
    request_id = item.get("request_id")
    field = "request_id"
    if request_id is None and isinstance(item.get("id"), str):
        field = "id"
        request_id, _, index_text = item["id"].rpartition(":")
        if not request_id or not (index_text.isascii() and index_text.isdigit()):
            raise BadValue("id", _ID_FORM)
        if len(index_text) > _INDEX_DIGITS or int(index_text) > MAX_RECORD_INDEX:
            raise BadValue("id", f"{_ID_FORM}; the record index must be at most {MAX_RECORD_INDEX}")
        record_index = int(index_text)
    if not isinstance(request_id, str) or not request_id or len(request_id) > MAX_NAME:
        raise BadValue(field, f"is required: the request_id (1 to {MAX_NAME} characters) of the prediction")
    if (problem := text_problem(request_id)) is not None:
        raise BadValue(field, f"the request_id {problem}")
    if record_index is not None and (type(record_index) is not int or not 0 <= record_index <= MAX_RECORD_INDEX):
        raise BadValue("record_index", f"must be an integer from 0 to {MAX_RECORD_INDEX}")
    if "actual" not in item or item["actual"] is None:
        raise BadValue("actual", "is required: the true label or value")
    actual = item["actual"]
    if classification:
        key = str(int(actual)) if type(actual) is float and actual.is_integer() else str(actual)
        if type(actual) in (dict, list) or key not in labels:
            raise BadValue("actual", f"{str(actual)[:40]!r} is not one of the model's classes {list(labels)}")
        actual = labels[key]
    else:
        try:
            actual = coerce_numeric(actual)
        except BadValue as exc:
            raise BadValue("actual", str(exc)) from None
    event_time = item.get("event_time")
    if event_time is not None:
        try:
            seconds_of(event_time)
        except BadEventTime as exc:
            raise BadValue("event_time", str(exc)) from None
    return FeedbackItem(request_id, record_index, actual, event_time)
