"""Rollback restores the previous version everywhere: the registry's champion alias, the
controller's view, and the answers of a running scoring service (separate processes)."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from driftloop.cli.demo import DEMO_MODEL, train_demo_model
from driftloop.demo.supervisor import Ports, Supervisor, service_specs
from driftloop.demo.traffic import credit_records
from driftloop.registry import Registry

pytestmark = pytest.mark.slow
ADMIN = "e2e-admin-token"


def test_rollback_restores_the_previous_champion_everywhere(tmp_path: Path, ports: Ports) -> None:
    home = tmp_path / "home"
    registry = Registry(home / "registry")
    train_demo_model(registry, home=home, time_budget=3.0, seed=0)
    train_demo_model(registry, home=home, time_budget=3.0, seed=1)
    registry.set_alias(DEMO_MODEL, "champion", 2, reason="e2e: promote the second model")

    extra = {
        "scoring": {"DRIFTLOOP_REGISTRY__POLL_INTERVAL_S": "0.2"},
        "controller": {"DRIFTLOOP_AUTH__ADMIN_TOKEN": ADMIN},
    }
    specs = [s for s in service_specs(home, ports, extra=extra) if s.name in ("scoring", "controller")]
    records = [record for record, _ in credit_records(5, seed=7, drift="none")]
    with Supervisor(specs, home) as supervisor, httpx.Client(timeout=10.0) as client:
        urls = supervisor.urls()

        def served_version() -> int:
            response = client.post(f"{urls['scoring']}/v1/models/{DEMO_MODEL}/predict", json={"records": records})
            assert response.status_code == 200, response.text
            return int(response.json()["version"])

        assert served_version() == 2
        rollback = f"{urls['controller']}/v1/models/{DEMO_MODEL}/rollback"
        refused = client.post(rollback, json={"reason": "no token"})
        assert refused.status_code == 401
        assert registry.aliases(DEMO_MODEL)["champion"] == 2

        answer = client.post(
            rollback, json={"reason": "e2e: v2 misbehaves"}, headers={"Authorization": f"Bearer {ADMIN}"}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["champion"] == 1
        assert answer.json()["previous"] == 2

        assert registry.aliases(DEMO_MODEL)["champion"] == 1
        assert registry.history(DEMO_MODEL)[-1]["reason"] == "e2e: v2 misbehaves"
        versions = client.get(f"{urls['controller']}/v1/models/{DEMO_MODEL}/versions").json()
        assert versions["aliases"]["champion"] == 1

        # Scoring follows the alias by itself; every request meanwhile is answered (by 2, then 1).
        # No deadline: the outcome is waited for (the suite's own time limit bounds it).
        seen = [served_version()]
        while seen[-1] != 1:
            seen.append(served_version())
        assert set(seen) <= {1, 2}
        assert served_version() == 1
