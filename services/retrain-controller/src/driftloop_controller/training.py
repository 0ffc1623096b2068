"""The one training worker process: started on demand, its pid known, killed on shutdown."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from driftloop.errors import TrainingError
from driftloop_controller.worker import TrainOutcome, TrainRequest, make_executor, train_challenger


class TrainingWorker:
    """Runs ``train_challenger`` in a spawned process; a worker that dies fails the job, not the service."""

    def __init__(self) -> None:
        self._executor: ProcessPoolExecutor | None = None
        self.pid: int | None = None
        self.busy = False

    async def start(self) -> int:
        """Start the worker process (if it is not running) and return its pid."""
        if self._executor is None:
            executor = make_executor()
            # With max_workers=1 this call starts the one process that will also run the training.
            self.pid = await asyncio.get_running_loop().run_in_executor(executor, os.getpid)
            self._executor = executor
        assert self.pid is not None
        return self.pid

    async def train(self, request: TrainRequest) -> TrainOutcome:
        await self.start()
        assert self._executor is not None
        self.busy = True
        try:
            return await asyncio.get_running_loop().run_in_executor(self._executor, train_challenger, request)
        except BrokenProcessPool:
            self._discard()
            raise TrainingError(
                "the training worker process died (killed or out of memory); nothing was promoted"
            ) from None
        finally:
            self.busy = False

    def close(self) -> None:
        """Stop the worker; a training in progress is killed (its job is failed by the caller)."""
        if self.busy and self.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)
        self._discard()

    def _discard(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
        self._executor = None
        self.pid = None
