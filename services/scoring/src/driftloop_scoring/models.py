"""The models being served: each name's champion, a few pinned versions, hot swaps and the registry watcher.

A swap is one dictionary assignment: a request that already holds the old runtime finishes on
it, the next one gets the new runtime. The new bundle is loaded, checked and warmed up in a
worker thread beside the old one first; one that fails, or whose contract would break today's
callers, is refused with a log line and the old one keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Literal

from driftloop.errors import DriftloopError, NotFoundError
from driftloop.registry import Registry

from .errors import BundleRefusedError, ModelNotReadyError
from .metrics import ScoringMetrics
from .runtime import ModelRuntime, check_compatible
from .settings import LimitsSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReloadResult:
    model: str
    version: int
    previous_version: int | None
    outcome: Literal["swapped", "unchanged"]


class ModelStore:
    def __init__(
        self,
        registry: Registry,
        *,
        names: list[str],
        limits: LimitsSettings,
        metrics: ScoringMetrics,
        pinned_capacity: int = 4,
    ) -> None:
        self.registry = registry
        self.champions: dict[str, ModelRuntime] = {}
        self._configured = names
        self._limits = limits
        self._metrics = metrics
        self._pinned: OrderedDict[tuple[str, int], ModelRuntime] = OrderedDict()
        self._pinned_capacity = pinned_capacity
        self._locks: dict[str, asyncio.Lock] = {}
        self._signatures: dict[str, tuple[int, int, int] | None] = {}
        self._expected: list[str] = []
        self.refusals: dict[str, str] = {}
        """Why each model's last load was refused (cleared when one is swapped in): readiness reports it."""

    # -- serving -------------------------------------------------------------------------

    def names(self) -> list[str]:
        """The model names this service serves (configured, or every model in the registry)."""
        return self._configured or self.registry.models()

    @property
    def ready(self) -> bool:
        """Every model found at start has a loaded, warmed-up champion (and there is at least one)."""
        names = self._expected or list(self.champions)
        return bool(names) and all(name in self.champions for name in names)

    def champion(self, name: str) -> ModelRuntime:
        runtime = self.champions.get(name)
        if runtime is None:
            if name in self.names():
                raise ModelNotReadyError(f"model {name!r} is not loaded yet")
            raise NotFoundError(f"model {name!r} is not served here")
        return runtime

    async def get(self, name: str, version: int | None = None) -> ModelRuntime:
        """The champion, or a specific version (loaded on first use and kept among the pinned few)."""
        champion = self.champions.get(name)
        if version is None or (champion is not None and champion.version == version):
            return self.champion(name)
        key = (name, version)
        runtime = self._pinned.get(key)
        if runtime is not None:
            self._pinned.move_to_end(key)
            return runtime
        if name not in self.names():
            raise NotFoundError(f"model {name!r} is not served here")
        async with self._lock(name):
            runtime = self._pinned.get(key)
            if runtime is None:
                bundle = await asyncio.to_thread(self.registry.resolve, name, version)
                runtime = self._runtime(bundle)
                await asyncio.to_thread(runtime.load)
                self._pinned[key] = runtime
                while len(self._pinned) > self._pinned_capacity:
                    self._pinned.popitem(last=False)
        return runtime

    # -- lifecycle -----------------------------------------------------------------------

    async def load_all(self) -> None:
        """Load every served model's champion; a model that fails is logged and left not ready."""
        self._expected = await asyncio.to_thread(self.names)
        for name in self._expected:
            self._signatures[name] = await asyncio.to_thread(self._signature, name)
            # A refusal is logged by reload; readiness stays false for this model.
            with contextlib.suppress(DriftloopError):
                await self.reload(name)

    async def reload(self, name: str) -> ReloadResult:
        """Load the current champion of ``name`` beside the one serving, then swap; raises BundleRefusedError."""
        async with self._lock(name):
            current = self.champions.get(name)
            previous = current.version if current else None
            try:
                bundle = await asyncio.to_thread(self.registry.resolve, name)
            except NotFoundError as exc:
                raise self._refuse(name, None, str(exc)) from exc
            if current is not None and current.version == bundle.version:
                self._metrics.reloads.labels(name, "unchanged").inc()
                return ReloadResult(name, bundle.version, previous, "unchanged")
            candidate = self._runtime(bundle)
            if current is not None:
                problems = check_compatible(current.contract, candidate.contract)
                if problems:
                    raise self._refuse(name, bundle.version, "incompatible contract: " + "; ".join(problems))
            try:
                await asyncio.to_thread(candidate.load)
            except BundleRefusedError as exc:
                raise self._refuse(name, bundle.version, exc.message) from exc
            self.champions[name] = candidate  # the swap: one reference assignment
            self.refusals.pop(name, None)
            self._metrics.model_version.labels(name).set(bundle.version)
            self._metrics.reloads.labels(name, "swapped").inc()
            log.info(
                "serving %s version %s (was %s)",
                name,
                bundle.version,
                previous,
                extra={"model": name, "version": bundle.version},
            )
            return ReloadResult(name, bundle.version, previous, "swapped")

    async def watch(self, interval: float) -> None:
        """Poll each model's aliases.json (one stat per model) and reload when it changed."""
        while True:
            await asyncio.sleep(interval)
            try:
                changed = await asyncio.to_thread(self._changed)
                for name in changed:
                    with contextlib.suppress(DriftloopError):  # refused and logged: the old model serves on
                        await self.reload(name)
            except Exception:  # the watcher must outlive any one bad poll
                log.exception("registry watch failed; retrying in %s s", interval)

    # -- internals -----------------------------------------------------------------------

    def _runtime(self, bundle: Any) -> ModelRuntime:
        limits = self._limits
        return ModelRuntime(
            bundle,
            max_records=limits.max_records,
            extra_columns=limits.extra_columns,
            max_details=limits.max_error_details,
        )

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _signature(self, name: str) -> tuple[int, int, int] | None:
        try:
            stat = os.stat(self.registry.root / name / "aliases.json")
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size, stat.st_ino)

    def _changed(self) -> list[str]:
        changed = []
        for name in self.names():
            signature = self._signature(name)
            if signature != self._signatures.get(name) or name not in self._signatures:
                self._signatures[name] = signature
                changed.append(name)
        return changed

    def _refuse(self, name: str, version: int | None, reason: str) -> BundleRefusedError:
        self._metrics.reloads.labels(name, "refused").inc()
        self.refusals[name] = f"version {version} refused: {reason}" if version is not None else reason
        serving = self.champions.get(name)
        log.error(
            "refused %s version %s: %s; still serving version %s",
            name,
            version,
            reason,
            serving.version if serving else None,
            extra={"model": name, "version": version},
        )
        return BundleRefusedError(f"model {name!r} version {version} refused: {reason}")
