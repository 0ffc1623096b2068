"""Constants shared by the controller's unit tests (a module of its own: test modules cannot import a conftest)."""

from __future__ import annotations

from driftloop.train.config import TrainConfig

SECRET = "test-webhook-secret"
ADMIN = "test-admin-token"
TINY = TrainConfig(target="default", time_budget=5, max_trials=2, families=["linear"], seed=0)
