"""Generated requests against every service's OpenAPI document (schemathesis), with and without credentials.

Each service runs in process with its lifespan (schemathesis's ASGI client): scoring over a
registry of real models (binary, multiclass, regression), feature-engineering and the
retrain-controller over that registry and a SQLite store, the forwarder over an embedded bus.
Every operation of each document gets a bounded number of valid and invalid requests (Hypothesis,
derandomised, so a run is the same every time); none may be answered with a 5xx. The counts are
printed at the end of the run ("fault and bad-input counts").
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from pydantic import SecretStr
from schemathesis import GenerationMode

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "unit" / "scoring"))
from scoring_bundles import build_registry

from driftloop.http.settings import ApiKeys
from driftloop.registry import Registry
from driftloop.store.settings import StoreSettings
from driftloop.telemetry.settings import BusSettings
from driftloop_controller.app import create_app as controller_app
from driftloop_controller.settings import AuthSettings as ControllerAuth
from driftloop_controller.settings import ControllerSettings, DashboardSettings
from driftloop_features.app import create_app as features_app
from driftloop_features.settings import FeaturesSettings
from driftloop_forwarder.app import create_app as forwarder_app
from driftloop_forwarder.settings import ForwarderSettings
from driftloop_scoring.app import create_app as scoring_app
from driftloop_scoring.settings import AuthSettings, ScoringRegistrySettings, ScoringSettings

EXAMPLES_PER_OPERATION = 25
KEY = "generated-key"
QUIET = {"level": "WARNING", "json_logs": False}


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    return build_registry(tmp_path_factory.mktemp("generated-registry"))


def scoring(registry: Registry, work: Path) -> FastAPI:
    auth = AuthSettings(api_keys=SecretStr(KEY), admin_token=SecretStr(KEY))
    return scoring_app(
        ScoringSettings(
            registry=ScoringRegistrySettings(path=registry.root, poll_interval_s=0),
            bus=BusSettings(url=f"sqlite:///{work}/bus.db", spill_path=work / "spill"),
            auth=auth,
            log=QUIET,
        )
    )


def features(registry: Registry, work: Path) -> FastAPI:
    return features_app(
        FeaturesSettings(
            registry={"path": registry.root},
            store=StoreSettings(url=f"sqlite:///{work}/store.db"),
            features={"datasets_dir": work / "datasets"},
            auth=ApiKeys(api_keys=SecretStr(KEY)),
            log=QUIET,
        )
    )


def controller(registry: Registry, work: Path) -> FastAPI:
    token = KEY
    return controller_app(
        ControllerSettings(
            registry={"path": registry.root},
            store=StoreSettings(url=f"sqlite:///{work}/store.db"),
            auth=ControllerAuth(admin_token=token),
            dashboard=DashboardSettings(token=token),
            features={"url": "http://127.0.0.1:9"},  # a job's dataset request fails fast: no job runs here
            log=QUIET,
        )
    )


def forwarder(registry: Registry, work: Path) -> FastAPI:
    return forwarder_app(
        ForwarderSettings(
            registry={"path": registry.root},
            bus=BusSettings(url=f"sqlite:///{work}/bus.db", spill_path=work / "spill"),
            store=StoreSettings(url=f"sqlite:///{work}/store.db"),
            log=QUIET,
        )
    )


# Every service with its credentials configured; the requests carry them, or not.
SERVICES: dict[str, Callable[[Registry, Path], FastAPI]] = {
    "scoring": scoring,
    "features": features,
    "controller": controller,
    "forwarder": forwarder,
}


def probe(app: FastAPI, headers: dict[str, str]) -> tuple[int, list[str]]:
    """Requests sent and the 5xx answers (method, path, status, body) over every operation of the document."""
    schema = schemathesis.openapi.from_asgi("/openapi.json", app, headers=headers)
    sent = 0
    server_errors: list[str] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        strategy = st.one_of(
            operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE)
        )

        @given(case=strategy)
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def send(case: Any) -> None:
            nonlocal sent
            response = case.call(headers=headers)
            sent += 1
            if response.status_code >= 500:
                server_errors.append(
                    f"{case.method} {case.formatted_path} -> {response.status_code}: {response.text[:200]}"
                )

        send()
    return sent, server_errors


@pytest.mark.parametrize("with_credentials", [True, False], ids=["with-credentials", "without"])
@pytest.mark.parametrize("service", list(SERVICES))
def test_no_generated_request_gets_a_server_error(
    registry: Registry,
    tmp_path: Path,
    service: str,
    with_credentials: bool,
    record_property: Callable[[str, object], None],
) -> None:
    app = SERVICES[service](registry, tmp_path)
    headers = {"X-API-Key": KEY} if with_credentials else {}
    sent, server_errors = probe(app, headers)
    credentials = "with credentials" if with_credentials else "without"
    record_property("tally", (f"schemathesis {service} {credentials}", {"requests": sent, "5xx": len(server_errors)}))
    assert sent > 0
    assert server_errors == [], "\n".join(server_errors[:20])
