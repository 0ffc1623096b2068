"""Credentials of every service: API keys, the admin token and the dashboard token, checked in one place.

A credential arrives as ``Authorization: Bearer <token>`` or ``X-API-Key: <token>`` (and, where a
browser opens a page and cannot set a header, as a query parameter such as ``?token=``). Every
configured key is compared with ``hmac.compare_digest`` with no early exit on a match, so the
time taken does not reveal which key, or how much of one, was right. A refusal says only
:data:`UNAUTHORIZED_MESSAGE`: nothing about which setting to set or what was expected.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable
from urllib.parse import parse_qsl

from starlette.requests import Request

from driftloop.errors import UnauthorizedError

UNAUTHORIZED_MESSAGE = "missing or invalid credentials"

Headers = Iterable[tuple[bytes, bytes]]


def credential(headers: Headers) -> bytes | None:
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
    """Accepts any of ``keys``; with no keys configured every request is accepted.

    ``query_param`` also takes the credential from that query parameter (the dashboard's
    ``?token=``), for pages a browser opens; headers win when both are given.
    """

    def __init__(self, keys: Iterable[str], *, query_param: str | None = None) -> None:
        self._keys = [key.encode() for key in keys if key]
        self._query_param = query_param

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def allows(self, headers: Headers, query_string: bytes = b"") -> bool:
        if not self._keys:
            return True
        given = credential(headers)
        if given is None and self._query_param and query_string:
            given = next(
                (v.encode() for k, v in parse_qsl(query_string.decode("latin-1")) if k == self._query_param), None
            )
        if given is None:
            return False
        matched = False
        for key in self._keys:
            matched |= hmac.compare_digest(given, key)
        return matched

    def check(self, headers: Headers, query_string: bytes = b"") -> None:
        if not self.allows(headers, query_string):
            raise UnauthorizedError(UNAUTHORIZED_MESSAGE)

    def allows_request(self, request: Request) -> bool:
        return self.allows(request.headers.raw, request.scope.get("query_string", b""))

    def __call__(self, request: Request) -> None:
        """As a FastAPI dependency: ``dependencies=[Depends(checker)]``."""
        self.check(request.headers.raw, request.scope.get("query_string", b""))


def split_keys(text: str) -> list[str]:
    """``"a, b,,c"`` -> ``["a", "b", "c"]``: the form of every ``*_KEYS`` setting."""
    return [key.strip() for key in text.split(",") if key.strip()]
