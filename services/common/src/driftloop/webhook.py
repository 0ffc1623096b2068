"""Signed webhooks: HMAC-SHA256 over ``timestamp + "." + body``, the scheme Stripe and GitHub use.

The sender puts the Unix timestamp in ``X-Driftloop-Timestamp`` and ``sha256=<hex digest>`` in
``X-Driftloop-Signature``; the receiver recomputes the digest in constant time and refuses a
request whose timestamp is further than the tolerance from its clock (a replay). The idempotency
key travels in ``Idempotency-Key`` and is the receiver's business.
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


def signature(secret: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def sign(secret: str, body: bytes, *, now: float | None = None) -> dict[str, str]:
    """The headers that sign ``body`` now."""
    timestamp = int(now if now is not None else time.time())
    return {TIMESTAMP_HEADER: str(timestamp), SIGNATURE_HEADER: signature(secret, timestamp, body)}


def verify(
    secret: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    now: float | None = None,
    tolerance: int = DEFAULT_TOLERANCE_SECONDS,
) -> None:
    """Raise ``UnauthorizedError`` unless ``headers`` carry a fresh, valid signature of ``body``.

    The messages say what is wrong with the request (missing, stale, wrong) and nothing about the
    secret; header names are matched case-insensitively.
    """
    lowered = {key.lower(): value for key, value in headers.items()}
    stamp = lowered.get(TIMESTAMP_HEADER.lower())
    given = lowered.get(SIGNATURE_HEADER.lower())
    if not stamp or not given:
        raise UnauthorizedError("the request is not signed")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise UnauthorizedError("the signature timestamp is not a Unix time") from None
    current = now if now is not None else time.time()
    if abs(current - timestamp) > tolerance:
        raise UnauthorizedError("the signature has expired")
    if not hmac.compare_digest(signature(secret, timestamp, body), given):
        raise UnauthorizedError("the signature does not match")
