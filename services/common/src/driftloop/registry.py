"""The model registry: immutable numbered versions per model name, and aliases that move atomically.

Layout under the registry root (a local directory, or a shared volume in a cluster)::

    <name>/versions/<N>/model.onnx, contract.json, profile.json, metrics.json, lineage.json
    <name>/aliases.json       {"champion": 3, ...}
    <name>/history.jsonl      one line per alias move, for audit and rollback
    <name>/.lock              serialises version numbering and alias moves between processes

A version is written under a temporary ``.staging-*`` name, every file and the directory are
fsynced, and only then is it renamed into ``versions/<N>``: a process killed mid-write leaves a
staging directory (ignored, and removed by the next registration) and never a half version.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Any

import orjson

from driftloop.contract import DataContract
from driftloop.errors import ConflictError, InvalidInputError, NotFoundError

CHAMPION = "champion"
MODEL_FILE = "model.onnx"
CONTRACT_FILE = "contract.json"
DOCUMENTS = ("profile", "metrics", "lineage")
_STAGING_PREFIX = ".staging-"
_STALE_STAGING_SECONDS = 3600


@dataclass(frozen=True)
class Bundle:
    """One registered model version on disk."""

    name: str
    version: int
    path: Path

    @property
    def model_path(self) -> Path:
        return self.path / MODEL_FILE

    @cached_property
    def contract(self) -> DataContract:
        return DataContract.load(self.path / CONTRACT_FILE)

    def document(self, kind: str) -> dict[str, Any]:
        """``profile``, ``metrics`` or ``lineage`` as parsed JSON."""
        data: dict[str, Any] = orjson.loads((self.path / f"{kind}.json").read_bytes())
        return data

    @property
    def ref(self) -> str:
        return f"{self.name}@{self.version}"


def parse_ref(ref: str) -> tuple[str, str]:
    """``name``, ``name@3`` or ``name@champion`` -> (name, version-or-alias)."""
    name, _, selector = ref.partition("@")
    if not name:
        raise InvalidInputError(f"model reference {ref!r} has no model name")
    return name, selector or CHAMPION


class Registry:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # -- reading -------------------------------------------------------------------------

    def models(self) -> list[str]:
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if (p / "versions").is_dir())

    def versions(self, name: str) -> list[int]:
        directory = self._model_dir(name) / "versions"
        if not directory.is_dir():
            return []
        return sorted(int(p.name) for p in directory.iterdir() if p.name.isdigit())

    def aliases(self, name: str) -> dict[str, int]:
        path = self._model_dir(name) / "aliases.json"
        if not path.exists():
            return {}
        aliases: dict[str, int] = orjson.loads(path.read_bytes())
        return aliases

    def history(self, name: str) -> list[dict[str, Any]]:
        path = self._model_dir(name) / "history.jsonl"
        if not path.exists():
            return []
        return [orjson.loads(line) for line in path.read_bytes().splitlines() if line.strip()]

    def resolve(self, name: str, selector: str | int = CHAMPION) -> Bundle:
        """A version number (``3``, ``"3"``) or an alias (``"champion"``) to its bundle."""
        versions = self.versions(name)
        if not versions:
            raise NotFoundError(f"model {name!r} is not in the registry at {self.root}")
        if isinstance(selector, int) or str(selector).isdigit():
            version = int(selector)
            if version not in versions:
                raise NotFoundError(f"model {name!r} has no version {version} (versions: {versions})")
        else:
            aliases = self.aliases(name)
            if selector not in aliases:
                raise NotFoundError(f"model {name!r} has no alias {selector!r} (aliases: {sorted(aliases)})")
            version = aliases[str(selector)]
        return Bundle(name, version, self._model_dir(name) / "versions" / str(version))

    def get(self, ref: str) -> Bundle:
        return self.resolve(*parse_ref(ref))

    # -- writing -------------------------------------------------------------------------

    def register(
        self,
        name: str,
        model: bytes,
        contract: DataContract,
        documents: dict[str, dict[str, Any]],
        *,
        reason: str = "first version",
    ) -> Bundle:
        """Write a new immutable version; the first version of a model becomes its champion.

        ``documents`` holds ``profile``, ``metrics`` and ``lineage``; the registry adds the
        version number and the parent version (the champion at registration) to the lineage.
        """
        _check_name(name)
        missing = [kind for kind in DOCUMENTS if kind not in documents]
        if missing:
            raise InvalidInputError(f"a bundle needs documents {missing}")
        model_dir = self._model_dir(name)
        (model_dir / "versions").mkdir(parents=True, exist_ok=True)
        staging = model_dir / f"{_STAGING_PREFIX}{uuid.uuid4().hex}"
        staging.mkdir()
        try:
            parent = self.aliases(name).get(CHAMPION)
            lineage = {**documents["lineage"], "parent_version": parent}
            _write_synced(staging / MODEL_FILE, model)
            _write_synced(staging / CONTRACT_FILE, contract.model_dump_json(indent=2).encode())
            for kind in DOCUMENTS:
                doc = lineage if kind == "lineage" else documents[kind]
                _write_synced(staging / f"{kind}.json", _json(doc))
            _fsync_dir(staging)
            with self._locked(name):
                self._remove_stale_staging(model_dir)
                version = (self.versions(name) or [0])[-1] + 1
                lineage["version"] = version
                _write_synced(staging / "lineage.json", _json(lineage))
                target = model_dir / "versions" / str(version)
                os.rename(staging, target)
                _fsync_dir(model_dir / "versions")
                if CHAMPION not in self.aliases(name):
                    self._move_alias(name, CHAMPION, version, reason)
        except BaseException:
            shutil.rmtree(staging, ignore_errors=True)
            raise
        return Bundle(name, version, target)

    def set_alias(self, name: str, alias: str, version: int, *, reason: str = "promote") -> int | None:
        """Point ``alias`` at ``version``; returns the version it pointed at before."""
        _check_name(alias)
        with self._locked(name):
            if version not in self.versions(name):
                raise NotFoundError(f"model {name!r} has no version {version}")
            return self._move_alias(name, alias, version, reason)

    def rollback(self, name: str, alias: str = CHAMPION, *, reason: str = "rollback") -> int:
        """Move ``alias`` back to the version it pointed at before its current one."""
        with self._locked(name):
            current = self.aliases(name).get(alias)
            if current is None:
                raise NotFoundError(f"model {name!r} has no alias {alias!r}")
            stack = _alias_stack(self.history(name), alias)
            previous = stack[-2] if len(stack) > 1 and stack[-1] == current else None
            if previous is None:
                raise ConflictError(
                    f"{name}@{alias} is at version {current}, which has no previous version to roll back to"
                )
            self._move_alias(name, alias, previous, reason, rollback_of=current)
            return int(previous)

    # -- internals -----------------------------------------------------------------------

    def _model_dir(self, name: str) -> Path:
        return self.root / name

    def _move_alias(self, name: str, alias: str, version: int, reason: str, **extra: Any) -> int | None:
        aliases = self.aliases(name)
        previous = aliases.get(alias)
        aliases[alias] = version
        model_dir = self._model_dir(name)
        entry = {
            "alias": alias,
            "version": version,
            "previous": previous,
            "reason": reason,
            "time": time.time(),
            **extra,
        }
        with open(model_dir / "history.jsonl", "ab") as history:
            history.write(orjson.dumps(entry) + b"\n")
            history.flush()
            os.fsync(history.fileno())
        tmp = model_dir / f".aliases-{uuid.uuid4().hex}.json"
        _write_synced(tmp, _json(aliases))
        os.replace(tmp, model_dir / "aliases.json")
        _fsync_dir(model_dir)
        return previous

    @contextlib.contextmanager
    def _locked(self, name: str) -> Iterator[None]:
        model_dir = self._model_dir(name)
        model_dir.mkdir(parents=True, exist_ok=True)
        with open(model_dir / ".lock", "a+b") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    @staticmethod
    def _remove_stale_staging(model_dir: Path) -> None:
        cutoff = time.time() - _STALE_STAGING_SECONDS
        for path in model_dir.glob(f"{_STAGING_PREFIX}*"):
            with contextlib.suppress(OSError):
                if path.stat().st_mtime < cutoff:
                    shutil.rmtree(path)


def _alias_stack(history: list[dict[str, Any]], alias: str) -> list[int]:
    """The versions ``alias`` went through, as a stack that rollbacks pop.

    Promoting 1 -> 2 -> 3 and rolling back twice lands on 1: each rollback undoes one promotion,
    instead of a second rollback undoing the first one.
    """
    stack: list[int] = []
    for move in history:
        if move["alias"] != alias:
            continue
        if move.get("rollback_of") is not None and stack:
            stack.pop()
        if not stack or stack[-1] != move["version"]:
            stack.append(int(move["version"]))
    return stack


def _check_name(name: str) -> None:
    if not name or name.startswith(".") or "/" in name or "@" in name or name != name.strip():
        raise InvalidInputError(f"{name!r} is not a valid name: use letters, digits, '-', '_' or '.'")


def _json(data: Any) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY)


def _write_synced(path: Path, data: bytes) -> None:
    with open(path, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
