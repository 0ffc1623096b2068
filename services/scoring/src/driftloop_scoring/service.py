"""The scoring core: validate, predict, answer, count and publish. No web framework in here.

Each operation takes a parsed JSON payload and returns a JSON-ready dict, or raises a
DriftloopError naming what was wrong. The transports (the lean ASGI routes for /v1 and the V2
protocol) only read bodies and write responses around it.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from driftloop.errors import DriftloopError, UnauthorizedError
from driftloop.eventtime import parse_request_time
from driftloop.telemetry import events
from driftloop.telemetry.publisher import Publisher

from .errors import MalformedRequestError
from .feedback import RecentRequests, parse_feedback
from .metrics import ScoringMetrics
from .models import ModelStore
from .runtime import ModelRuntime, Prediction
from .settings import ScoringSettings
from .v2 import parse_infer_request, v2_outputs
from .validation import Batch

log = logging.getLogger(__name__)


class ScoringService:
    def __init__(self, settings: ScoringSettings, store: ModelStore, metrics: ScoringMetrics) -> None:
        self.settings = settings
        self.store = store
        self.metrics = metrics
        self.source = f"/driftloop/scoring/{socket.gethostname()}"
        self.publisher: Publisher | None = None  # started in the app's lifespan
        self.recent = RecentRequests(settings.limits.feedback_memory)

    @property
    def ready(self) -> bool:
        return self.store.ready and (self.publisher is not None or not self.settings.telemetry)

    # -- operations ----------------------------------------------------------------------

    async def predict(
        self, name: str, version: int | None, payload: Any, request_id: str, started: float
    ) -> dict[str, Any]:
        """``{"records": [...], "event_time"?}`` -> ``{"model", "version", "request_id", "predictions": [...]}``."""
        if type(payload) is not dict or "records" not in payload:
            raise MalformedRequestError(
                "the body must be a JSON object with a 'records' list",
                details=[{"field": "records", "reason": "missing"}],
            )
        runtime = await self.store.get(name, version)
        records = payload["records"]
        batch = self._validate(runtime, lambda: runtime.validator.validate(records))
        event_time = payload.get("event_time")
        parse_request_time(event_time, batch.size)  # checked; the event carries it as sent
        prediction = runtime.predict(batch.feeds)
        answers, probabilities = _answers(runtime, prediction)
        rows: list[dict[str, Any]]
        if probabilities is not None:
            keys = runtime.class_keys
            rows = [
                {"id": f"{request_id}:{i}", "prediction": answer, "probabilities": dict(zip(keys, row, strict=True))}
                for i, (answer, row) in enumerate(zip(answers, probabilities, strict=True))
            ]
        else:
            rows = [{"id": f"{request_id}:{i}", "prediction": answer} for i, answer in enumerate(answers)]
        self._answered(
            runtime, "predict", request_id, records, batch, prediction, answers, probabilities, started, event_time
        )
        return {"model": name, "version": runtime.version, "request_id": request_id, "predictions": rows}

    async def infer(
        self,
        name: str,
        version: int | None,
        payload: Any,
        request_id: str,
        started: float,
        *,
        binary: memoryview | None = None,
    ) -> dict[str, Any]:
        """An Open Inference Protocol V2 inference request -> its response.

        ``binary``: the raw tensor bytes after the request's JSON (v2_binary); outputs asked for as
        binary data come back marked ``parameters.binary_data``, for the transport to encode.
        """
        runtime = await self.store.get(name, version)
        request = parse_infer_request(payload, runtime, binary)
        batch = self._validate(runtime, lambda: runtime.validator.validate_columns(request.tensors, request.size))
        parse_request_time(request.event_time, batch.size, "parameters.event_time")
        prediction = runtime.predict(batch.feeds)
        answers, probabilities = _answers(runtime, prediction)
        records = [dict(zip(request.tensors, row, strict=True)) for row in zip(*request.tensors.values(), strict=True)]
        event_time = request.event_time
        self._answered(
            runtime, "infer", request_id, records, batch, prediction, answers, probabilities, started, event_time
        )
        response: dict[str, Any] = {
            "model_name": name,
            "model_version": str(runtime.version),
            "id": request.id or request_id,
            "outputs": v2_outputs(runtime, prediction, request.outputs, request.binary_outputs),
        }
        if runtime.class_labels:
            response["parameters"] = {"class_labels": runtime.class_labels}
        return response

    async def feedback(self, name: str, payload: Any, request_id: str, started: float) -> dict[str, Any]:
        runtime = self.store.champion(name)
        items = parse_feedback(payload, runtime.contract, max_items=self.settings.limits.max_records)
        acknowledged = []
        for item in items:
            size = self.recent.size_of(item.request_id)
            known = size is not None and (item.record_index is None or item.record_index < size)
            self.metrics.feedback.labels(name, "true" if known else "false").inc()
            self._publish(
                events.feedback_event(
                    self.source,
                    model=name,
                    request_id=item.request_id,
                    record_index=item.record_index,
                    actual=item.actual,
                    known_request=known,
                    event_time=item.event_time,
                )
            )
            acknowledged.append(
                {"request_id": item.request_id, "record_index": item.record_index, "known_request": known}
            )
        counter, latency = self.metrics.route(name, "feedback")
        counter.inc()
        latency.observe(time.perf_counter() - started)
        unknown = sum(not item["known_request"] for item in acknowledged)
        return {"model": name, "accepted": len(acknowledged), "unknown_requests": unknown, "items": acknowledged}

    def refused(self, name: str, route: str, request_id: str, error: DriftloopError, body: bytes) -> None:
        """Count a refused request and publish its ``driftloop.rejected`` event (not for failed authentication)."""
        # Only served names become label values: a caller must not be able to mint new series.
        label = name if name in self.store.champions else "_unknown"
        self.metrics.requests.labels(label, route, str(error.status_code)).inc()
        if isinstance(error, UnauthorizedError):
            return  # an unauthenticated caller's body is not ours to store
        runtime = self.store.champions.get(name)
        self._publish(
            events.rejected_event(
                self.source,
                model=name,
                version=runtime.version if runtime else None,
                request_id=request_id,
                status=error.status_code,
                error=error.to_dict()["error"],
                body=body,
            )
        )

    # -- internals -----------------------------------------------------------------------

    def _validate(self, runtime: ModelRuntime, validate: Callable[[], Batch]) -> Batch:
        """Run ``validate``, counting each problem of a refusal by column."""
        try:
            batch = validate()
        except DriftloopError as exc:
            for problem in exc.details if isinstance(exc.details, list) else []:
                column = problem.get("column") if isinstance(problem, dict) else None
                label = column if column in runtime.input_set else ("_extra" if column else "")
                self.metrics.validation_errors.labels(runtime.name, label).inc()
            raise
        return batch

    def _answered(
        self,
        runtime: ModelRuntime,
        route: str,
        request_id: str,
        records: list[Any],
        batch: Batch,
        prediction: Prediction,
        answers: list[Any],
        probabilities: list[list[float]] | None,
        started: float,
        event_time: Any,
    ) -> None:
        name = runtime.name
        metrics = self.metrics
        self.recent.remember(request_id, batch.size)
        counter, latency = metrics.route(name, route)
        counter.inc()
        metrics.records_of(name).inc(batch.size)
        if prediction.labels is not None and batch.size == 1:
            metrics.class_counter(name, runtime.class_keys[int(prediction.labels[0])]).inc()
        elif prediction.labels is not None:
            counts = np.bincount(prediction.labels.reshape(-1), minlength=len(runtime.class_keys))
            for index, count in enumerate(counts.tolist()):
                if count:
                    metrics.class_counter(name, runtime.class_keys[index]).inc(count)
        elif prediction.values is not None:
            histogram = metrics.predicted_values.labels(name)
            for value in prediction.values.reshape(-1).tolist():
                histogram.observe(value)
        for item in batch.unseen:
            metrics.unseen_values.labels(name, item["column"], item["reason"]).inc()
        elapsed = time.perf_counter() - started
        latency.observe(elapsed)
        if self.publisher is None:
            return
        self.publisher.publish(
            events.prediction_event(
                self.source,
                model=name,
                version=runtime.version,
                request_id=request_id,
                records=records,
                predictions=answers,
                probabilities=probabilities,
                class_labels=runtime.class_labels or None,
                latency_ms=int(elapsed * 1_000_000) / 1000,  # µs precision; round() costs ~1 µs
                unseen=batch.unseen,
                event_time=event_time,
            )
        )

    def _publish(self, event: events.Event) -> None:
        if self.publisher is not None:
            self.publisher.publish(event)


def _answers(runtime: ModelRuntime, prediction: Prediction) -> tuple[list[Any], list[list[float]] | None]:
    """Class labels (not indices) and probability rows, or regression values, as plain Python."""
    if prediction.labels is not None and prediction.probabilities is not None:
        labels = runtime.class_labels
        return [labels[i] for i in prediction.labels.reshape(-1).tolist()], prediction.probabilities.tolist()
    assert prediction.values is not None
    return prediction.values.reshape(-1).tolist(), None
