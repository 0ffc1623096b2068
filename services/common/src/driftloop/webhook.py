"""Signed webhooks: HMAC-SHA256 over ``timestamp + "." + idempotency key + "." + body``.

The scheme Stripe and GitHub use, extended to the idempotency key: the sender puts the Unix
timestamp in ``X-Driftloop-Timestamp``, the key in ``Idempotency-Key`` (or none) and
``sha256=<hex digest>`` in ``X-Driftloop-Signature``; the receiver recomputes the digest in
constant time and refuses a request whose timestamp is further than the tolerance from its clock.
Because the key is signed, a captured request replayed within the tolerance with another key (or
none) no longer verifies; a signed request without a key gets one derived from its signature
(:func:`verify` returns it), so the same request sent twice maps to one key. The receiver keeps
keys unique (the retrain-controller's ``retrain_jobs.idempotency_key``): a replay returns the
job the original made.

The signature of the first scheme (``timestamp + "." + body``, key unsigned) is refused with a
message saying so: accepting it would accept exactly the replays this scheme exists to stop.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping

from driftloop.errors import UnauthorizedError

TIMESTAMP_HEADER = "X-Driftloop-Timestamp"
SIGNATURE_HEADER = "X-Driftloop-Signature"
IDEMPOTENCY_HEADER = "Idempotency-Key"
DEFAULT_TOLERANCE_SECONDS = 300


def signature(secret: str, timestamp: int, body: bytes, idempotency_key: str = "") -> str:
    signed = f"{timestamp}.{idempotency_key}.".encode() + body
    return f"sha256={hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()}"


def sign(secret: str, body: bytes, *, idempotency_key: str | None = None, now: float | None = None) -> dict[str, str]:
    """The headers that sign ``body`` (and the idempotency key, sent with them) now."""
    timestamp = int(now if now is not None else time.time())
    headers = {
        TIMESTAMP_HEADER: str(timestamp),
        SIGNATURE_HEADER: signature(secret, timestamp, body, idempotency_key or ""),
    }
    if idempotency_key:
        headers[IDEMPOTENCY_HEADER] = idempotency_key
    return headers


def header(headers: Mapping[str, str], name: str) -> str | None:
    """A header's value, the name matched case-insensitively; None when absent or empty."""
    wanted = name.lower()
    return next((value for key, value in headers.items() if key.lower() == wanted), None) or None


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> str:
    """The request's idempotency key, once ``headers`` carry a fresh, valid signature of it and ``body``.

    Raises ``UnauthorizedError`` otherwise. A request signed without a key gets ``sig-`` and 40
    hex digits of the SHA-256 of its signature: one key per signed request, whoever sends it.
    The messages say what is wrong with the request (missing, stale, wrong) and nothing about
    the secret.
    """
    stamp = header(headers, TIMESTAMP_HEADER)
    given = header(headers, SIGNATURE_HEADER)
    key = header(headers, IDEMPOTENCY_HEADER)
    if not stamp or not given:
        raise UnauthorizedError("the request is not signed")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise UnauthorizedError("the signature timestamp is not a Unix time") from None
    current = now if now is not None else time.time()
    if abs(current - timestamp) > tolerance:
        raise UnauthorizedError("the signature has expired")
    if not hmac.compare_digest(signature(secret, timestamp, body, key or ""), given):
        if hmac.compare_digest(_first_scheme(secret, timestamp, body), given):
            raise UnauthorizedError(
                "the request is signed by the first scheme, which does not cover the Idempotency-Key: "
                "upgrade the sender (docs/controller.md, 'Webhook signing')"
            )
        raise UnauthorizedError("the signature does not match")
    return key if key is not None else "sig-" + hashlib.sha256(given.encode()).hexdigest()[:40]


def _first_scheme(secret: str, timestamp: int, body: bytes) -> str:
    """``timestamp + "." + body``: recognised only to say why it is refused."""
    return f"sha256={hmac.new(secret.encode(), str(timestamp).encode() + b'.' + body, hashlib.sha256).hexdigest()}"
