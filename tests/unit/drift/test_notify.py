"""The retrain webhook sender against a real HTTP receiver on 127.0.0.1 that verifies signatures and
deduplicates by idempotency key, as the retrain-controller does; including a receiver restart."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from driftloop import webhook
from driftloop.drift.evaluator import Evidence, Firing
from driftloop.drift.notify import DeliveryAttempt, DeliveryOutcome, WebhookSender, WebhookSettings
from driftloop.errors import UnauthorizedError

SECRET = "webhook-secret"


class Receiver:
    """A retrain endpoint whose accepted firings outlive its restarts (the controller's job store)."""

    def __init__(self, port: int, secret: str = SECRET) -> None:
        self.port = port
        self.secret = secret
        self.accepted: dict[str, dict[str, Any]] = {}
        self.duplicates = 0
        self.refused = 0
        self.fail_next = 0
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                with receiver._lock:
                    status, answer = receiver.handle(self.path, dict(self.headers.items()), body)
                payload = json.dumps(answer).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:  # keep the test output quiet
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def stop(self) -> None:
        assert self._server is not None
        assert self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def handle(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, Any]]:
        if path != "/v1/retrain":
            return 404, {"error": "not found"}
        if self.fail_next:
            self.fail_next -= 1
            return 503, {"error": "starting up"}
        try:
            webhook.verify(self.secret, headers, body)
        except UnauthorizedError as exc:
            self.refused += 1
            return 401, exc.to_dict()
        key = {k.lower(): v for k, v in headers.items()}["idempotency-key"]
        if key in self.accepted:
            self.duplicates += 1
            return 200, {"job_id": key, "duplicate": True}
        self.accepted[key] = json.loads(body)
        return 202, {"job_id": key}


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver(_free_port())
    receiver.start()
    yield receiver
    receiver.stop()


def _settings(port: int, **overrides: Any) -> WebhookSettings:
    values: dict[str, Any] = {
        "url": f"http://127.0.0.1:{port}/v1/retrain",
        "secret": SECRET,
        "timeout": 5.0,
        "initial_backoff": 0.05,
        "max_backoff": 0.2,
        "give_up_after": 30.0,
    }
    return WebhookSettings(**(values | overrides))


def _firing(key: str) -> Firing:
    return Firing(
        id=key,
        rule="feature-drift",
        action="retrain",
        statistic="drift",
        threshold=0.5,
        consecutive=2,
        model="credit",
        version=3,
        window={
            "index": 7,
            "start": "2026-01-01T00:00:00.000+00:00",
            "end": "2026-01-01T00:05:00.000+00:00",
            "rows": 1000,
        },
        evidence=[Evidence("credit_score", "drift", 1.0, 0.5)],
        fired_at=1_767_225_900.0,
        summary={"drift_share": 0.0625},
    )


def test_a_firing_arrives_signed_with_its_evidence(receiver: Receiver) -> None:
    async def scenario() -> None:
        async with WebhookSender(_settings(receiver.port)) as sender:
            outcome = await sender.deliver(_firing("a" * 32))
        assert (outcome.status, outcome.attempts, outcome.http_status) == ("delivered", 1, 202)
        assert json.loads(outcome.response) == {"job_id": "a" * 32}

    asyncio.run(scenario())
    body = receiver.accepted["a" * 32]
    assert body["model"] == "credit"
    assert body["version"] == 3
    assert body["rule"] == {
        "name": "feature-drift",
        "statistic": "drift",
        "threshold": 0.5,
        "consecutive": 2,
        "action": "retrain",
    }
    assert body["window"]["index"] == 7
    assert body["evidence"] == [{"column": "credit_score", "statistic": "drift", "value": 1.0, "threshold": 0.5}]
    assert receiver.refused == 0


def test_delivery_survives_a_receiver_restart_and_arrives_exactly_once(receiver: Receiver) -> None:
    failed_attempt = asyncio.Event()

    def attempted(attempt: DeliveryAttempt) -> None:
        if attempt.http_status is None and attempt.retry_in is not None:
            failed_attempt.set()

    async def scenario() -> None:
        async with WebhookSender(_settings(receiver.port), on_attempt=attempted) as sender:
            assert (await sender.deliver(_firing("before"))).status == "delivered"
            receiver.stop()
            task = sender.submit(_firing("during"))
            assert sender.submit(_firing("during")) is task  # a firing in flight is not sent twice
            await failed_attempt.wait()  # the receiver is away: the attempt failed, a retry is scheduled
            assert [f.id for f in sender.pending()] == ["during"]
            receiver.start()  # the same port again
            outcome = await task
            assert outcome.status == "delivered"
            assert outcome.attempts >= 2
            assert sender.pending() == []
            # The forwarder restarted and resubmits what its store had not marked delivered.
            again = await sender.deliver(_firing("during"))
            assert (again.status, again.http_status) == ("delivered", 200)

    asyncio.run(scenario())
    assert sorted(receiver.accepted) == ["before", "during"]
    assert receiver.duplicates == 1


def test_a_receiver_error_is_retried_and_a_refusal_is_not(receiver: Receiver) -> None:
    receiver.fail_next = 2

    async def scenario() -> None:
        async with WebhookSender(_settings(receiver.port)) as sender:
            retried = await sender.deliver(_firing("retried"))
            assert (retried.status, retried.attempts) == ("delivered", 3)
        async with WebhookSender(_settings(receiver.port, secret="not-the-secret")) as sender:
            refused = await sender.deliver(_firing("refused"))
            assert (refused.status, refused.attempts, refused.http_status) == ("rejected", 1, 401)
            assert "does not match" in refused.response

    asyncio.run(scenario())
    assert list(receiver.accepted) == ["retried"]


def test_a_firing_is_given_up_after_the_configured_time_and_reported() -> None:
    port = _free_port()  # nothing listens here
    outcomes: list[DeliveryOutcome] = []

    async def scenario() -> None:
        settings = _settings(port, give_up_after=0.3)
        async with WebhookSender(settings, on_outcome=outcomes.append) as sender:
            sender.submit(_firing("lost"))
            await sender.drain()

    asyncio.run(scenario())
    (outcome,) = outcomes
    assert outcome.status == "gave_up"
    assert outcome.attempts >= 2
    assert outcome.http_status is None
    assert "ConnectError" in (outcome.error or "")
