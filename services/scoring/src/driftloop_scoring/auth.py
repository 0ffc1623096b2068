"""API keys and the admin token, compared in constant time.

Every configured key is compared with ``hmac.compare_digest`` (no early exit on a match), so
the time taken does not reveal which key, or how much of one, was right. A refusal says only
"unauthorized".
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from driftloop.errors import UnauthorizedError

UNAUTHORIZED_MESSAGE = "missing or invalid credentials"


def _credential(headers: Iterable[tuple[bytes, bytes]]) -> bytes | None:
    """The token of ``Authorization: Bearer <token>`` or the value of ``X-API-Key``."""
    for name, value in headers:
        if name == b"x-api-key":
            return value.strip()
        if name == b"authorization":
            scheme, _, token = value.partition(b" ")
            if scheme.lower() == b"bearer":
                return token.strip()
    return None


class KeyChecker:
    """Accepts any of ``keys``; with no keys configured every request is accepted."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [key.encode() for key in keys if key]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def allows(self, headers: Iterable[tuple[bytes, bytes]]) -> bool:
        if not self._keys:
            return True
        credential = _credential(headers)
        if credential is None:
            return False
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(credential, key)
        return matched

    def check(self, headers: Iterable[tuple[bytes, bytes]]) -> None:
        if not self.allows(headers):
            raise UnauthorizedError(UNAUTHORIZED_MESSAGE)
