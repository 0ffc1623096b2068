"""Reporting queries over the store (the same join as the ``labelled_predictions`` view)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select

from driftloop.store.models import Feedback, Prediction, labels_prediction


def labelled_predictions(engine: Engine, model: str, since: datetime | None = None) -> list[dict[str, Any]]:
    """Predictions that have a label: feedback joined by request id (and record index when it names one).

    The join does not care which arrived first: a label stored before its prediction shows up
    as soon as the prediction is stored.
    """
    query = (
        select(
            Prediction.event_id,
            Prediction.record_index,
            Prediction.request_id,
            Prediction.version,
            Prediction.time,
            Prediction.record,
            Prediction.prediction,
            Prediction.probabilities,
            Feedback.actual,
            Feedback.time.label("feedback_time"),
        )
        .join(Feedback, labels_prediction())
        .where(Prediction.model == model)
        .order_by(Prediction.time, Prediction.record_index)
    )
    if since is not None:
        query = query.where(Prediction.time >= since)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]
