"""The retrain webhook sender: a fired rule's evidence, signed, delivered until it is delivered.

``POST`` to ``DRIFTLOOP_WEBHOOK__URL`` (the retrain-controller's ``/v1/retrain``) with the firing as
JSON, carrying the firing's id as ``Idempotency-Key`` and signed with it by ``driftloop.webhook.sign``
(fresh timestamp per attempt), so a retried or replayed firing starts one retrain. Transport errors,
5xx, 408 and 429 are retried with exponential backoff (and jitter, so that many forwarders do not
retry in step) until the configured give-up time; any other 4xx is a rejection (retrying an
unauthorised request cannot help). Outcomes are plain data for the store to record; firings
still undelivered when the sender stops are listed by ``pending()`` so that the forwarder can
persist and resubmit them.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal

import httpx
import orjson
from pydantic import BaseModel, Field

from driftloop import webhook
from driftloop.drift.evaluator import Firing

logger = logging.getLogger(__name__)

RETRIED_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})


class WebhookSettings(BaseModel):
    """The retrain webhook (``DRIFTLOOP_WEBHOOK__*``)."""

    url: str = "http://127.0.0.1:8083/v1/retrain"
    """Where fired rules are posted (the retrain-controller's ``/v1/retrain``)."""
    secret: str = ""
    """HMAC-SHA256 key shared with the controller; empty sends unsigned requests (embedded, open)."""
    timeout: float = Field(default=10.0, gt=0)
    """Seconds per attempt."""
    initial_backoff: float = Field(default=1.0, gt=0)
    """Seconds before the first retry; doubled at each retry."""
    max_backoff: float = Field(default=60.0, gt=0)
    """Longest wait between two attempts."""
    give_up_after: float = Field(default=86_400.0, gt=0)
    """Seconds after the first attempt when an undelivered firing is given up (and reported)."""


@dataclass(frozen=True)
class DeliveryAttempt:
    firing_id: str
    attempt: int
    at: float
    http_status: int | None
    error: str | None
    retry_in: float | None
    """Seconds until the next attempt; None when this attempt ended the delivery."""


@dataclass(frozen=True)
class DeliveryOutcome:
    firing_id: str
    status: Literal["delivered", "rejected", "gave_up"]
    attempts: int
    http_status: int | None
    error: str | None
    first_attempt_at: float
    finished_at: float
    response: str
    """The receiver's response body (e.g. the retrain job it started), truncated."""


class WebhookSender:
    """Delivers firings concurrently, each with its own retries; use as an async context manager."""

    def __init__(
        self,
        settings: WebhookSettings,
        *,
        on_attempt: Callable[[DeliveryAttempt], None] | None = None,
        on_outcome: Callable[[DeliveryOutcome], None] | None = None,
    ) -> None:
        self.settings = settings
        self.on_attempt = on_attempt
        self.on_outcome = on_outcome
        self.outcomes: list[DeliveryOutcome] = []
        self._client: httpx.AsyncClient | None = None
        self._tasks: dict[str, asyncio.Task[DeliveryOutcome]] = {}
        self._firings: dict[str, Firing] = {}

    async def __aenter__(self) -> WebhookSender:
        self._client = httpx.AsyncClient(timeout=self.settings.timeout)
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for task in self._tasks.values():
            task.cancel()
        await asyncio.gather(*self._tasks.values(), return_exceptions=True)
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def submit(self, firing: Firing) -> asyncio.Task[DeliveryOutcome]:
        """Start delivering ``firing`` in the background (a firing already in flight is not sent twice)."""
        if firing.id in self._tasks:
            return self._tasks[firing.id]
        self._firings[firing.id] = firing
        task = asyncio.create_task(self.deliver(firing), name=f"webhook-{firing.id}")
        self._tasks[firing.id] = task
        task.add_done_callback(lambda done: self._finished(firing.id, done))
        return task

    def pending(self) -> list[Firing]:
        """Firings submitted and not yet delivered, rejected or given up."""
        return [self._firings[key] for key in self._tasks]

    async def drain(self) -> list[DeliveryOutcome]:
        """Wait for every submitted firing to finish its delivery."""
        return list(await asyncio.gather(*self._tasks.values()))

    async def deliver(self, firing: Firing) -> DeliveryOutcome:
        """Post ``firing`` until it is delivered, rejected or given up; return the outcome."""
        if self._client is None:
            raise RuntimeError("WebhookSender.deliver needs `async with WebhookSender(...)`")
        body = orjson.dumps(firing.body(), option=orjson.OPT_SERIALIZE_NUMPY)
        first = time.time()
        deadline = first + self.settings.give_up_after
        attempt = 0
        while True:
            attempt += 1
            status, error, text = await self._post(body, firing.id)
            now = time.time()
            if status is not None and 200 <= status < 300:
                return self._outcome(firing, "delivered", attempt, status, None, first, text)
            if status is not None and status not in RETRIED_STATUSES:
                self._attempted(firing.id, attempt, now, status, error, None)
                return self._outcome(firing, "rejected", attempt, status, error, first, text)
            delay = self._backoff(attempt)
            if now + delay > deadline:
                self._attempted(firing.id, attempt, now, status, error, None)
                logger.error("giving up the retrain webhook for firing %s after %d attempts", firing.id, attempt)
                return self._outcome(firing, "gave_up", attempt, status, error, first, text)
            self._attempted(firing.id, attempt, now, status, error, delay)
            logger.warning("retrain webhook attempt %d failed (%s); retrying in %.1fs", attempt, error, delay)
            await asyncio.sleep(delay)

    async def _post(self, body: bytes, key: str) -> tuple[int | None, str | None, str]:
        assert self._client is not None
        headers = {"Content-Type": "application/json", webhook.IDEMPOTENCY_HEADER: key}
        if self.settings.secret:  # the signature covers the key too: a replay cannot swap it
            headers |= webhook.sign(self.settings.secret, body, idempotency_key=key)
        try:
            response = await self._client.post(self.settings.url, content=body, headers=headers)
        except httpx.TransportError as exc:
            return None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__, ""
        error = None if response.is_success else f"HTTP {response.status_code}"
        return response.status_code, error, response.text[:2000]

    def _backoff(self, attempt: int) -> float:
        ceiling = min(self.settings.max_backoff, self.settings.initial_backoff * 2.0 ** (attempt - 1))
        return float(ceiling * (0.5 + random.random() / 2))  # jitter: forwarders do not retry in step

    def _attempted(
        self, key: str, attempt: int, at: float, status: int | None, error: str | None, retry_in: float | None
    ) -> None:
        if self.on_attempt is not None:
            self.on_attempt(DeliveryAttempt(key, attempt, at, status, error, retry_in))

    def _outcome(
        self, firing: Firing, result: Literal["delivered", "rejected", "gave_up"], attempts: int,
        status: int | None, error: str | None, first: float, text: str,
    ) -> DeliveryOutcome:  # fmt: skip
        outcome = DeliveryOutcome(firing.id, result, attempts, status, error, first, time.time(), text)
        if result == "delivered":
            self._attempted(firing.id, attempts, outcome.finished_at, status, None, None)
        self.outcomes.append(outcome)
        if self.on_outcome is not None:
            self.on_outcome(outcome)
        return outcome

    def _finished(self, key: str, task: asyncio.Task[DeliveryOutcome]) -> None:
        if not task.cancelled():
            self._tasks.pop(key, None)
            self._firings.pop(key, None)
