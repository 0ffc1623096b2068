"""The feature-engineering service's datasets API, as the controller uses it (all its calls are here).

``POST {url}/v1/datasets`` with ``{"model": name, ...}`` answers 201 with the dataset (or 422
with the quality gate's reasons); ``GET {url}/v1/datasets/{id}`` answers
``{id, model, state: "ready"|"failed"|..., train_path, holdout_path, sha256, rows, quality, created}``.
Datasets are immutable Parquet snapshots on a volume both services see.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from driftloop.http.auth import split_keys
from driftloop_controller.errors import DatasetError
from driftloop_controller.settings import FeaturesSettings

READY, FAILED = "ready", "failed"


@dataclass(frozen=True)
class Dataset:
    id: str
    train_path: Path
    holdout_path: Path
    sha256: str
    quality: dict[str, Any]
    rows: Any


class FeaturesClient:
    """Use as ``async with FeaturesClient(settings) as client``."""

    def __init__(self, settings: FeaturesSettings) -> None:
        self.settings = settings
        keys = split_keys(settings.api_key.get_secret_value())
        headers = {"X-API-Key": keys[0]} if keys else {}
        self._http = httpx.AsyncClient(
            base_url=settings.url.rstrip("/"), timeout=settings.timeout_seconds, headers=headers
        )

    async def __aenter__(self) -> FeaturesClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self._http.aclose()

    async def materialise(self, model: str, **options: Any) -> Dataset:
        """Ask for a training set for ``model`` and wait until it is ready (or refused)."""
        body = await self._call("POST", "/v1/datasets", json={"model": model, **options})
        deadline = time.monotonic() + self.settings.dataset_timeout_seconds
        while body.get("state") != READY:
            if body.get("state") == FAILED:
                raise DatasetError(f"dataset {body.get('id')} for {model!r} failed", details=body.get("quality"))
            if time.monotonic() > deadline:
                raise DatasetError(
                    f"dataset {body.get('id')} for {model!r} was not ready after "
                    f"{self.settings.dataset_timeout_seconds:.0f}s (DRIFTLOOP_FEATURES__DATASET_TIMEOUT_SECONDS)"
                )
            await asyncio.sleep(self.settings.poll_seconds)  # polling a remote build: no event to wait on
            body = await self._call("GET", f"/v1/datasets/{body['id']}")
        try:
            return Dataset(
                id=str(body["id"]),
                train_path=Path(body["train_path"]),
                holdout_path=Path(body["holdout_path"]),
                sha256=str(body.get("sha256", "")),
                quality=dict(body.get("quality") or {}),
                rows=body.get("rows"),
            )
        except KeyError as exc:
            raise DatasetError(f"the feature-engineering service's dataset has no {exc.args[0]!r}") from None

    async def _call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        where = f"{self.settings.url}{path}"
        try:
            response = await self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise DatasetError(f"could not reach the feature-engineering service at {where}: {exc!r}") from exc
        if response.status_code >= 400:
            try:
                error = response.json().get("error", {})
            except ValueError:
                error = {"message": response.text[:300]}
            raise DatasetError(
                f"the feature-engineering service refused {method} {path} ({response.status_code}): "
                f"{error.get('message', '')}",
                details=error.get("details"),
            )
        data: dict[str, Any] = response.json()
        return data
