"""Fixtures of the telemetry unit tests: settings on a temporary embedded bus."""

from __future__ import annotations

from pathlib import Path

import pytest

from driftloop.telemetry.settings import BusSettings


@pytest.fixture
def bus_settings(tmp_path: Path) -> BusSettings:
    return BusSettings(
        url=f"sqlite:///{tmp_path / 'bus.db'}",
        spill_path=tmp_path / "spill",
        linger_ms=1,
        retry_backoff_s=0.01,
        retry_backoff_max_s=0.05,
        send_timeout_s=2.0,
    )
