"""Webhook signatures: valid, missing, wrong, tampered and replayed requests."""

from __future__ import annotations

import pytest

from driftloop import webhook
from driftloop.errors import UnauthorizedError

SECRET = "s3cret"
BODY = b'{"model": "credit", "rule": "psi"}'


def test_a_fresh_signature_verifies_with_any_header_case() -> None:
    headers = webhook.sign(SECRET, BODY, now=1_000_000)
    webhook.verify(SECRET, {k.lower(): v for k, v in headers.items()}, BODY, now=1_000_010)


@pytest.mark.parametrize(
    ("headers", "body", "now", "reason"),
    [
        ({}, BODY, 1_000_000, "not signed"),
        (webhook.sign(SECRET, BODY, now=1_000_000), BODY + b" ", 1_000_000, "does not match"),
        (webhook.sign("other", BODY, now=1_000_000), BODY, 1_000_000, "does not match"),
        (webhook.sign(SECRET, BODY, now=1_000_000), BODY, 1_000_000 + 301, "expired"),
        (webhook.sign(SECRET, BODY, now=1_000_000), BODY, 1_000_000 - 301, "expired"),
        ({webhook.TIMESTAMP_HEADER: "yesterday", webhook.SIGNATURE_HEADER: "sha256=00"}, BODY, 0, "Unix time"),
    ],
)
def test_bad_requests_are_refused_with_the_reason(headers: dict[str, str], body: bytes, now: int, reason: str) -> None:
    with pytest.raises(UnauthorizedError, match=reason) as caught:
        webhook.verify(SECRET, headers, body, now=now)
    assert caught.value.status_code == 401
    assert SECRET not in caught.value.message


def test_the_signature_covers_the_timestamp() -> None:
    headers = webhook.sign(SECRET, BODY, now=1_000_000)
    headers[webhook.TIMESTAMP_HEADER] = "1000100"
    with pytest.raises(UnauthorizedError, match="does not match"):
        webhook.verify(SECRET, headers, BODY, now=1_000_100)


def test_the_signature_covers_the_idempotency_key() -> None:
    headers = webhook.sign(SECRET, BODY, idempotency_key="f-1", now=1_000_000)
    assert webhook.verify(SECRET, headers, BODY, now=1_000_000) == "f-1"
    for replayed in ({**headers, webhook.IDEMPOTENCY_HEADER: "f-2"}, {**headers, webhook.IDEMPOTENCY_HEADER: ""}):
        with pytest.raises(UnauthorizedError, match="does not match"):
            webhook.verify(SECRET, replayed, BODY, now=1_000_000)


def test_a_request_signed_without_a_key_is_keyed_by_its_signature() -> None:
    first = webhook.sign(SECRET, BODY, now=1_000_000)
    key = webhook.verify(SECRET, first, BODY, now=1_000_000)
    assert key == webhook.verify(SECRET, dict(first), BODY, now=1_000_100)  # the same request: the same key
    assert key.startswith("sig-")
    assert key != webhook.verify(SECRET, webhook.sign(SECRET, BODY, now=1_000_001), BODY, now=1_000_001)
