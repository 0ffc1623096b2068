"""Fixtures of the telemetry integration tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from crash_scoring import RECORDS_PER_REQUEST, credit_model_registry


@pytest.fixture(scope="module")
def credit_registry(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[dict[str, Any]]]:
    """A registry with one real ``credit`` model, and ``RECORDS_PER_REQUEST`` records to score."""
    root = tmp_path_factory.mktemp("registry")
    return root, credit_model_registry(root, RECORDS_PER_REQUEST)
