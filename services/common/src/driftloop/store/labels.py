"""Labelled predictions for the per-minute rollup: the pairs a batch completes, and the pairs of a time span.

A pair is a prediction row and a feedback row joined as the ``labelled_predictions`` view joins
them: same model and request id, and the feedback's record index equal to the prediction's or
NULL (a label for every record of the request). Either side may be stored first, so a batch
completes two kinds of pairs: its new feedback with every stored prediction (this batch's
included), and its new predictions with the feedback stored before it. Each pair is counted once,
when its second row is stored; a record labelled twice is two pairs, as in the join.

On PostgreSQL two concurrent batches could each store one side of a pair and, not seeing the
other's uncommitted row, both miss it; a transaction-scoped advisory lock per model, taken after
the inserts and held to the commit, makes the later batch see the earlier one's rows.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Connection, any_, bindparam, select, text
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.orm import InstrumentedAttribute
from sqlalchemy.types import String

from driftloop.store.models import Feedback, Prediction, labels_prediction
from driftloop.store.rollup import Key, MinuteCounts, minute_of

CHUNK = 500  # request ids per IN (...) on SQLite: well under its bound on parameters

# The lookups filter by request id only, and check the model in Python: with ``model = ? AND
# request_id IN (...)`` SQLite (no statistics) picks the model index and reads every row of the
# model for each batch; the request id index finds the few rows of a request.


def lock_models(connection: Connection, models: Iterable[str]) -> None:
    """PostgreSQL: serialise the pairing of these models' batches until the commit (sorted: no deadlocks)."""
    if connection.dialect.name != "postgresql":
        return  # SQLite: one writer at a time, and the write transaction sees every commit
    for model in sorted(set(models)):
        digest = hashlib.blake2b(f"driftloop.labels:{model}".encode(), digest_size=8).digest()
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": int.from_bytes(digest, signed=True)})


def new_pairs(
    connection: Connection, predictions: list[dict[str, Any]], feedback: list[dict[str, Any]]
) -> dict[Key, MinuteCounts]:
    """The rollup increments of the pairs completed by newly stored prediction and feedback rows."""
    minutes: dict[Key, MinuteCounts] = {}
    # New labels: every stored prediction of their requests, this batch's included.
    for model, requests in _by_model(feedback).items():
        for matching in _request_id_in(connection, Prediction.request_id, sorted(requests)):
            query = select(
                Prediction.model,
                Prediction.version,
                Prediction.time,
                Prediction.request_id,
                Prediction.record_index,
                Prediction.prediction,
            ).where(matching)  # the model is checked here, see above
            for found in connection.execute(query).mappings():
                if found["model"] != model:
                    continue
                for label in requests[found["request_id"]]:
                    if label["record_index"] is None or label["record_index"] == found["record_index"]:
                        _add(minutes, found, label["actual"])
    # New predictions: the labels stored before this batch (this batch's were paired above).
    this_batch = {row["event_id"] for row in feedback}
    for model, requests in _by_model(predictions).items():
        for matching in _request_id_in(connection, Feedback.request_id, sorted(requests)):
            query = select(
                Feedback.event_id, Feedback.model, Feedback.request_id, Feedback.record_index, Feedback.actual
            ).where(matching)
            for stored in connection.execute(query).mappings():
                if stored["model"] != model or stored["event_id"] in this_batch:
                    continue
                for row in requests[stored["request_id"]]:
                    if stored["record_index"] is None or stored["record_index"] == row["record_index"]:
                        _add(minutes, row, stored["actual"])
    return minutes


def span_pairs(connection: Connection, model: str, since: datetime | None, until: datetime | None) -> Iterator[Any]:
    """Every pair of a model's predictions in [since, until) (None: unbounded), as the join finds them."""
    query = (
        select(Prediction.model, Prediction.version, Prediction.time, Prediction.prediction, Feedback.actual)
        .join(Feedback, labels_prediction())
        .where(Prediction.model == model)
    )
    if since is not None:
        query = query.where(Prediction.time >= since)
    if until is not None:
        query = query.where(Prediction.time < until)
    return iter(connection.execute(query.execution_options(stream_results=True, yield_per=50_000)))


def count_pairs(rows: Iterable[Any]) -> dict[Key, MinuteCounts]:
    """Rollup increments from (model, version, time, prediction, actual) rows."""
    minutes: dict[Key, MinuteCounts] = {}
    for model, version, time, prediction, actual in rows:
        key = (model, int(version), minute_of(time))
        minutes.setdefault(key, MinuteCounts()).add_label(prediction, actual)
    return minutes


def _add(minutes: dict[Key, MinuteCounts], prediction: Any, actual: Any) -> None:
    key = (prediction["model"], int(prediction["version"]), minute_of(prediction["time"]))
    minutes.setdefault(key, MinuteCounts()).add_label(prediction["prediction"], actual)


def _by_model(rows: list[dict[str, Any]]) -> dict[str, dict[str, list[dict[str, Any]]]]:
    grouped: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for row in rows:
        grouped[row["model"]][row["request_id"]].append(row)
    return grouped


def _request_id_in(
    connection: Connection, column: InstrumentedAttribute[str], ids: list[str]
) -> Iterator[ColumnElement[bool]]:
    """``column`` among ``ids``: on PostgreSQL one array parameter (``= ANY(:ids)``), on SQLite
    ``IN (...)`` chunks. An ``IN`` of thousands of parameters cost the forwarder more to render and
    parse (SQLAlchemy, then psycopg) than the database took to answer it."""
    if connection.dialect.name == "postgresql":
        yield column == any_(bindparam("ids", ids, type_=ARRAY(String)))
        return
    for start in range(0, len(ids), CHUNK):
        yield column.in_(ids[start : start + CHUNK])
