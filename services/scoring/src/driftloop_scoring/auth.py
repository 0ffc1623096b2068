"""API keys and the admin token: the shared checker of the HTTP edge (driftloop.http.auth)."""

from __future__ import annotations

from driftloop.http.auth import UNAUTHORIZED_MESSAGE, KeyChecker

__all__ = ["UNAUTHORIZED_MESSAGE", "KeyChecker"]
