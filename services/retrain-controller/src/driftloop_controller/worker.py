"""Training in a worker process, so that the API stays responsive and a crash cannot corrupt it.

``train_challenger`` runs in a ``ProcessPoolExecutor`` (spawn context, one worker): it reads the
training snapshot, runs ``train_model`` (the same code as ``driftloop train``) and registers the
winner as a new version. Registration never moves an existing champion alias, and it is atomic:
a worker killed at any point leaves either no new version or a complete one that nothing points to.
"""

from __future__ import annotations

import contextlib
import ctypes
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from driftloop.registry import Registry
from driftloop.train.config import TrainConfig
from driftloop.train.dataset import load_table
from driftloop.train.run import file_sha256, train_model

PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class TrainRequest:
    """Plain data sent to the worker (picklable)."""

    registry_path: str
    model: str
    target: str
    train_path: str
    config: dict[str, Any]
    trigger: str


@dataclass(frozen=True)
class TrainOutcome:
    version: int
    metric: str
    holdout_metrics: dict[str, float]
    winner: dict[str, Any]
    trials: int


def make_executor() -> ProcessPoolExecutor:
    # spawn: a fresh interpreter, never a fork of a process that runs an event loop and threads.
    return ProcessPoolExecutor(
        max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=die_with_parent
    )


def die_with_parent() -> None:
    """Linux: the kernel kills this worker when the controller dies (even by SIGKILL).

    Otherwise an orphaned worker would finish its training and register a version for a job
    that the restarted controller has already marked failed.
    """
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() == 1:  # the parent died before prctl took effect
            os._exit(1)


def train_challenger(request: TrainRequest) -> TrainOutcome:
    path = Path(request.train_path)
    result = train_model(
        load_table(path),
        request.target,
        config=TrainConfig.model_validate(request.config),
        name=request.model,
        registry=Registry(request.registry_path),
        trigger=request.trigger,
        source=path,
        dataset_sha256=file_sha256(path),
    )
    assert result.bundle is not None
    return TrainOutcome(
        version=result.bundle.version,
        metric=result.metric,
        holdout_metrics=dict(result.holdout_metrics),
        winner=result.winner.to_dict(),
        trials=len(result.leaderboard),
    )
