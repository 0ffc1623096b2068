"""The Azure DevOps client against a stand-in of the Runs - Run Pipeline API over real HTTP
(tests/integration/azure_devops_standin.py: it checks requests and answers as the service does)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from azure_devops_standin import (
    ORGANIZATION,
    PAT,
    PIPELINE_ID,
    PROJECT,
    StandIn,
    declared_parameters,
    serving_azure_devops,
)
from pydantic import Field, SecretStr

from driftloop.settings import ServiceSettings
from driftloop_controller.azure_devops import (
    AzureDevOpsAuthError,
    AzureDevOpsClient,
    AzureDevOpsError,
    AzureDevOpsNotFoundError,
    AzureDevOpsSettings,
    PipelineRun,
    retrain_parameters,
)


@pytest.fixture
def stand_in() -> Iterator[StandIn]:
    with serving_azure_devops() as state:
        yield state


def settings_for(stand_in: StandIn, **overrides: Any) -> AzureDevOpsSettings:
    values: dict[str, Any] = {
        "organization": ORGANIZATION,
        "project": PROJECT,
        "pipeline_id": PIPELINE_ID,
        "token": SecretStr(PAT),
        "base_url": stand_in.base_url,
    }
    values.update(overrides)
    return AzureDevOpsSettings(**values)


def run(settings: AzureDevOpsSettings, parameters: dict[str, str], **kwargs: Any) -> PipelineRun:
    async def scenario() -> PipelineRun:
        async with AzureDevOpsClient(settings) as client:
            return await client.run_pipeline(parameters, **kwargs)

    return asyncio.run(scenario())


def test_run_pipeline_sends_the_documented_request_and_reads_the_run(stand_in: StandIn) -> None:
    parameters = {"modelName": "credit", "reason": "psi on income > 0.2 for 3 windows"}
    result = run(settings_for(stand_in), parameters)

    assert result.id == 1001
    assert result.state == "inProgress"
    assert result.name == "20261127.1"
    assert result.web_url == f"{stand_in.base_url}/{ORGANIZATION}/{PROJECT}/_build/results?buildId=1001"
    [request] = stand_in.requests
    assert request["path"] == f"/{ORGANIZATION}/{PROJECT}/_apis/pipelines/{PIPELINE_ID}/runs"
    assert request["query"] == {"api-version": ["7.1"]}
    assert request["body"] == {
        "resources": {"repositories": {"self": {"refName": "refs/heads/main"}}},
        "templateParameters": parameters,
    }


def test_run_pipeline_on_another_branch(stand_in: StandIn) -> None:
    run(settings_for(stand_in), {"modelName": "credit"}, ref_name="refs/heads/release/1.2")
    assert stand_in.requests[0]["body"]["resources"]["repositories"]["self"]["refName"] == "refs/heads/release/1.2"


def test_a_refused_token_is_a_clear_error(stand_in: StandIn) -> None:
    with pytest.raises(AzureDevOpsAuthError) as caught:
        run(settings_for(stand_in, token=SecretStr("expired-pat")), {"modelName": "credit"})
    assert caught.value.status_code == 502
    assert "(401)" in caught.value.message
    assert "DRIFTLOOP_AZURE_DEVOPS__TOKEN" in caught.value.message
    assert "expired-pat" not in caught.value.message  # the token is never echoed


def test_an_unknown_pipeline_is_a_clear_error(stand_in: StandIn) -> None:
    with pytest.raises(AzureDevOpsNotFoundError) as caught:
        run(settings_for(stand_in, pipeline_id=99), {"modelName": "credit"})
    assert "Pipeline with id 99 not found." in caught.value.message
    assert "__PIPELINE_ID" in caught.value.message
    assert caught.value.to_dict()["error"]["code"] == "azure_devops_pipeline_not_found"


def test_an_unreachable_service_is_a_clear_error() -> None:
    with socket.socket() as sock:  # a port nobody listens on once this closes
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = AzureDevOpsSettings(
        organization=ORGANIZATION,
        project=PROJECT,
        pipeline_id=PIPELINE_ID,
        token=SecretStr(PAT),
        base_url=f"http://127.0.0.1:{port}",
    )
    with pytest.raises(AzureDevOpsError, match="could not reach Azure DevOps"):
        run(settings, {"modelName": "credit"})


def test_the_client_refuses_to_start_unconfigured() -> None:
    with pytest.raises(AzureDevOpsError, match="DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION"):
        AzureDevOpsClient(AzureDevOpsSettings(organization=ORGANIZATION))


def test_settings_come_from_the_documented_environment_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    class ControllerSettings(ServiceSettings):
        azure_devops: AzureDevOpsSettings = Field(default_factory=AzureDevOpsSettings)

    for name, value in {
        "DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION": ORGANIZATION,
        "DRIFTLOOP_AZURE_DEVOPS__PROJECT": PROJECT,
        "DRIFTLOOP_AZURE_DEVOPS__PIPELINE_ID": str(PIPELINE_ID),
        "DRIFTLOOP_AZURE_DEVOPS__TOKEN": PAT,
    }.items():
        monkeypatch.setenv(name, value)
    settings = ControllerSettings().azure_devops
    assert settings.configured
    assert (settings.organization, settings.project, settings.pipeline_id) == (ORGANIZATION, PROJECT, PIPELINE_ID)
    assert settings.token.get_secret_value() == PAT
    assert PAT not in repr(settings)


def test_start_retrain_passes_parameters_that_retrain_yml_declares(stand_in: StandIn) -> None:
    paths = {
        "target": "default",
        "data_path": "/var/lib/driftloop/datasets/ab12/train.parquet",
        "holdout_path": "/var/lib/driftloop/datasets/ab12/holdout.parquet",
        "config_path": "/var/lib/driftloop/datasets/jobs/j1.yaml",
        "job_id": "j1",
    }

    async def scenario() -> PipelineRun:
        async with AzureDevOpsClient(settings_for(stand_in)) as client:
            return await client.start_retrain("credit", "psi(income) 0.31 > 0.2", **paths)

    asyncio.run(scenario())
    sent = stand_in.requests[0]["body"]["templateParameters"]
    assert sent == {
        "modelName": "credit",
        "reason": "psi(income) 0.31 > 0.2",
        "target": "default",
        "dataPath": "/var/lib/driftloop/datasets/ab12/train.parquet",
        "holdoutPath": "/var/lib/driftloop/datasets/ab12/holdout.parquet",
        "configPath": "/var/lib/driftloop/datasets/jobs/j1.yaml",
        "jobId": "j1",
    }
    # Azure DevOps refuses a run whose templateParameters name a parameter the YAML does not declare.
    assert set(sent) <= declared_parameters()
    assert set(retrain_parameters("credit", "scheduled")) == {"modelName", "reason"}  # the rest: defaults


def test_a_parameter_retrain_yml_does_not_declare_is_refused_like_azure_devops_does(stand_in: StandIn) -> None:
    with pytest.raises(AzureDevOpsError) as caught:
        run(settings_for(stand_in), {"modelName": "credit", "minImprovement": "0.01"})
    assert "(400: Unexpected parameter 'minImprovement')" in caught.value.message
