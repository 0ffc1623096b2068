"""The directory registry: numbered immutable versions, atomic aliases, crash safety (real processes)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from sklearn.linear_model import LogisticRegression

from driftloop.contract import DataContract
from driftloop.datasets import make_credit
from driftloop.errors import ConflictError, InvalidInputError, NotFoundError
from driftloop.registry import Registry, parse_ref
from driftloop.train.dataset import infer_contract
from driftloop.train.export import export_onnx
from driftloop.train.frame import encode_target, model_frame
from driftloop.train.pipeline import build_pipeline

DOCUMENTS: dict[str, dict[str, Any]] = {"profile": {}, "metrics": {}, "lineage": {"trigger": "test"}}


@pytest.fixture(scope="module")
def tiny_model() -> tuple[bytes, DataContract]:
    frame = pd.DataFrame(make_credit(300, seed=1))
    contract = infer_contract(frame, "default")
    pipeline = build_pipeline(contract, LogisticRegression(max_iter=500), scale=True)
    pipeline.fit(model_frame(frame, contract), encode_target(frame["default"], contract))
    return export_onnx(pipeline, contract), contract


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry")


def _register(registry: Registry, model: tuple[bytes, DataContract], name: str = "credit") -> int:
    return registry.register(name, model[0], model[1], DOCUMENTS).version


def test_first_version_becomes_champion_later_ones_need_promotion(registry: Registry, tiny_model) -> None:  # type: ignore[no-untyped-def]
    assert _register(registry, tiny_model) == 1
    assert _register(registry, tiny_model) == 2
    assert registry.versions("credit") == [1, 2]
    assert registry.aliases("credit") == {"champion": 1}
    assert registry.resolve("credit").version == 1
    assert registry.get("credit@2").version == 2
    bundle = registry.get("credit@champion")
    assert bundle.contract.target == "default"
    assert bundle.document("lineage") == {"trigger": "test", "parent_version": None, "version": 1}
    assert registry.get("credit@2").document("lineage")["parent_version"] == 1


def test_alias_moves_and_rollback(registry: Registry, tiny_model) -> None:  # type: ignore[no-untyped-def]
    for _ in range(3):
        _register(registry, tiny_model)
    assert registry.set_alias("credit", "champion", 2) == 1
    assert registry.set_alias("credit", "champion", 3) == 2
    assert registry.set_alias("credit", "staging", 1) is None
    assert registry.aliases("credit") == {"champion": 3, "staging": 1}
    assert registry.rollback("credit") == 2
    assert registry.aliases("credit")["champion"] == 2
    assert registry.rollback("credit") == 1
    with pytest.raises(ConflictError, match=r"no previous version to roll back to"):
        registry.rollback("credit")
    moves = [(m["alias"], m["version"], m["previous"], m["reason"]) for m in registry.history("credit")]
    assert moves[-1] == ("champion", 1, 2, "rollback")
    assert not list((registry.root / "credit").glob(".aliases-*"))  # temporary alias files renamed away


def test_errors_name_what_is_missing(registry: Registry, tiny_model) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(NotFoundError, match=r"model 'nope' is not in the registry"):
        registry.resolve("nope")
    _register(registry, tiny_model)
    with pytest.raises(NotFoundError, match=r"has no version 7 \(versions: \[1\]\)"):
        registry.get("credit@7")
    with pytest.raises(NotFoundError, match=r"has no alias 'canary'"):
        registry.get("credit@canary")
    with pytest.raises(NotFoundError, match=r"has no version 9"):
        registry.set_alias("credit", "champion", 9)
    with pytest.raises(InvalidInputError, match=r"not a valid name"):
        registry.register("../escape", tiny_model[0], tiny_model[1], DOCUMENTS)
    with pytest.raises(InvalidInputError, match=r"needs documents \['profile'\]"):
        registry.register("credit", tiny_model[0], tiny_model[1], {"metrics": {}, "lineage": {}})
    assert parse_ref("credit") == ("credit", "champion")
    assert parse_ref("credit@4") == ("credit", "4")


def test_concurrent_registrations_get_distinct_versions(registry: Registry, tiny_model) -> None:  # type: ignore[no-untyped-def]
    versions: list[int] = []
    threads = [threading.Thread(target=lambda: versions.append(_register(registry, tiny_model))) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(versions) == [1, 2, 3, 4]
    assert registry.aliases("credit") == {"champion": 1}


TRAIN_AND_REGISTER = """
import sys
import pandas as pd
from driftloop.datasets import make_credit
from driftloop.registry import Registry
from driftloop.train.config import TrainConfig
from driftloop.train.run import train_model

train_model(pd.DataFrame(make_credit(300)), "default", config=TrainConfig(max_trials=1, folds=3),
            name="credit", registry=Registry(sys.argv[1]), trigger="test")
"""


def test_a_training_killed_mid_write_leaves_no_version(registry: Registry, tiny_model) -> None:  # type: ignore[no-untyped-def]
    # Hold the model's registry lock, so the training process writes its whole staging bundle and
    # then waits to rename it into place; kill -9 it there, once the staging files are on disk.
    model_dir = registry.root / "credit"
    model_dir.mkdir(parents=True)
    with open(model_dir / ".lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        process = subprocess.Popen([sys.executable, "-c", TRAIN_AND_REGISTER, str(registry.root)])
        try:
            staging = _wait_for_complete_staging(model_dir, process)
        finally:
            os.kill(process.pid, signal.SIGKILL)
            process.wait()
        assert process.returncode == -signal.SIGKILL
        assert staging.is_dir()  # the killed process left its staging directory behind...
        assert registry.versions("credit") == []  # ...and no version
        assert registry.aliases("credit") == {}
        assert not (model_dir / "versions" / "1").exists()
        fcntl.flock(lock, fcntl.LOCK_UN)
    # The next registration is version 1 and the champion: the leftover counts for nothing.
    assert _register(registry, tiny_model) == 1
    assert registry.aliases("credit") == {"champion": 1}
    assert registry.resolve("credit").model_path.read_bytes() == tiny_model[0]


def _wait_for_complete_staging(model_dir: Path, process: subprocess.Popen[bytes]) -> Path:
    wanted = {"model.onnx", "contract.json", "profile.json", "metrics.json", "lineage.json"}
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the training process ended before it reached the registry"
        for staging in model_dir.glob(".staging-*"):
            if wanted <= {p.name for p in staging.iterdir()}:
                return staging
        time.sleep(0.02)  # polling the filesystem for the state we wait for, not a guess at timing
    raise AssertionError("the training process never wrote a staging bundle")


def test_staging_left_by_a_crash_is_removed_once_stale(registry: Registry, tiny_model) -> None:  # type: ignore[no-untyped-def]
    model_dir = registry.root / "credit"
    fresh, stale = model_dir / ".staging-fresh", model_dir / ".staging-stale"
    for staging in (fresh, stale):
        staging.mkdir(parents=True)
        (staging / "model.onnx").write_bytes(b"half")
    two_hours_ago = time.time() - 7200
    os.utime(stale, (two_hours_ago, two_hours_ago))
    assert _register(registry, tiny_model) == 1
    assert not stale.exists()
    assert fresh.exists()  # it may belong to a registration still running in another process
