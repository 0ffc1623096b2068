"""Demo traffic: credit applications scored over HTTP, with their true outcomes sent back as feedback.

Records come from ``make_credit`` (before the drift: the training distribution; after it: the
concept-drifted world), in small requests with an ``X-Request-ID``. Most labels follow at once, a
share arrives a few requests late (as outcomes do in production). Every answer is kept with its
version, label and score, so the demo can say how each model version ranks the applicants it saw.
"""

from __future__ import annotations

import math
import time
import uuid
from collections import defaultdict, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import numpy as np

from driftloop.datasets import TARGET, Drift, make_credit

MODEL = "credit"
LATE_SHARE = 0.2
LATE_BY_REQUESTS = 5


def credit_records(n_rows: int, *, seed: int, drift: Drift) -> Iterator[tuple[dict[str, Any], int]]:
    """(record as JSON-ready dict, true label) pairs; NaN becomes a missing value (None)."""
    columns = make_credit(n_rows, seed=seed, drift=drift)
    labels = columns.pop(TARGET)
    names = list(columns)
    for row in range(n_rows):
        record: dict[str, Any] = {}
        for name in names:
            value = columns[name][row]
            if isinstance(value, float | np.floating):
                record[name] = None if math.isnan(value) else float(value)
            else:
                record[name] = value
        yield record, int(labels[row])


@dataclass
class Answered:
    version: int
    label: int
    score: float
    drifted: bool
    record: dict[str, Any]


@dataclass
class TrafficLog:
    """What was sent and answered: counts, failures, and every scored record."""

    requests: int = 0
    records: int = 0
    failed: int = 0
    failures: list[str] = field(default_factory=list)
    feedback_sent: int = 0
    feedback_late: int = 0
    answered: list[Answered] = field(default_factory=list)
    versions: dict[int, int] = field(default_factory=lambda: defaultdict(int))
    first_answer: dict[int, tuple[float, int]] = field(default_factory=dict)
    """Per model version: the wall-clock time of its first answer and that answer's index in ``answered``."""

    def last_version(self) -> int | None:
        return self.answered[-1].version if self.answered else None


def roc_auc(labels: np.ndarray, scores: np.ndarray) -> float | None:
    """ROC AUC by ranks (ties averaged); None with a single class."""
    positives = int(labels.sum())
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores))
    sorted_scores = scores[order]
    # average ranks over ties
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    average = first + (counts + 1) / 2.0
    ranks[order] = np.repeat(average, counts)
    return float((ranks[labels == 1].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def auc_of(answers: list[Answered]) -> float | None:
    if not answers:
        return None
    labels = np.array([a.label for a in answers])
    scores = np.array([a.score for a in answers])
    return roc_auc(labels, scores)


class TrafficGenerator:
    """Sends requests of ``batch`` records to scoring, then their labels (some late), recording every answer."""

    def __init__(self, client: httpx.Client, scoring_url: str, *, batch: int = 10, seed: int = 100) -> None:
        self.client = client
        self.url = scoring_url.rstrip("/")
        self.batch = batch
        self.seed = seed
        self.log = TrafficLog()
        self.drifted = False
        self._rng = np.random.default_rng(seed)
        self._source = self._records()
        self._late: deque[tuple[int, list[dict[str, Any]]]] = deque()

    def _records(self) -> Iterator[tuple[dict[str, Any], int, bool]]:
        chunk = 0
        while True:
            drifted = self.drifted
            for record, label in credit_records(500, seed=self.seed + chunk, drift="concept" if drifted else "none"):
                yield record, label, drifted
                if self.drifted != drifted:
                    break  # the drift starts with the very next record
            chunk += 1

    def send(self) -> None:
        """One request of ``batch`` records and its feedback."""
        rows = [next(self._source) for _ in range(self.batch)]
        request_id = uuid.uuid4().hex
        self.log.requests += 1
        try:
            response = self.client.post(
                f"{self.url}/v1/models/{MODEL}/predict",
                json={"records": [r for r, _, _ in rows]},
                headers={"X-Request-ID": request_id},
            )
        except httpx.HTTPError as exc:
            self._failed(f"request {request_id}: {type(exc).__name__}: {exc}")
            return
        if not response.is_success:
            self._failed(f"request {request_id}: HTTP {response.status_code} {response.text[:200]}")
            return
        body = response.json()
        version = int(body["version"])
        self.log.records += len(rows)
        self.log.versions[version] += len(rows)
        self.log.first_answer.setdefault(version, (time.time(), len(self.log.answered)))
        for (record, label, drifted), prediction in zip(rows, body["predictions"], strict=True):
            score = float(prediction["probabilities"]["1"])
            self.log.answered.append(Answered(version, label, score, drifted, record))
        feedback = [
            {"id": p["id"], "actual": label} for (_, label, _), p in zip(rows, body["predictions"], strict=True)
        ]
        late = self._rng.random(len(feedback)) < LATE_SHARE
        now = [item for item, is_late in zip(feedback, late, strict=True) if not is_late]
        held = [item for item, is_late in zip(feedback, late, strict=True) if is_late]
        if held:
            self._late.append((self.log.requests + LATE_BY_REQUESTS, held))
        while self._late and self._late[0][0] <= self.log.requests:
            due = self._late.popleft()[1]
            self.log.feedback_late += len(due)
            now.extend(due)
        self._feedback(now)

    def flush_feedback(self) -> None:
        """Send every label still held back."""
        while self._late:
            due = self._late.popleft()[1]
            self.log.feedback_late += len(due)
            self._feedback(due)

    def _feedback(self, items: list[dict[str, Any]]) -> None:
        if not items:
            return
        try:
            response = self.client.post(f"{self.url}/v1/models/{MODEL}/feedback", json=items)
        except httpx.HTTPError as exc:
            self._failed(f"feedback: {type(exc).__name__}: {exc}")
            return
        if not response.is_success:
            self._failed(f"feedback: HTTP {response.status_code} {response.text[:200]}")
            return
        self.log.feedback_sent += len(items)

    def _failed(self, message: str) -> None:
        self.log.failed += 1
        if len(self.log.failures) < 10:
            self.log.failures.append(message)
