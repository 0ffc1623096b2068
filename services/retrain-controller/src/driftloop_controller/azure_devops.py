"""Start the ``retrain.yml`` pipeline through the Azure DevOps REST API (Runs - Run Pipeline).

When ``DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION`` (and project, pipeline id, token) are set, the
controller hands a retrain to Azure DevOps instead of training in the cluster, the way the system
this project descends from did with an Azure Function:

    POST {base_url}/{organization}/{project}/_apis/pipelines/{pipeline_id}/runs?api-version=7.1
    Authorization: Basic base64(":" + PAT)
    {"resources": {"repositories": {"self": {"refName": "refs/heads/main"}}},
     "templateParameters": {"modelName": "credit", "reason": "...", "jobId": "...",
                            "dataPath": "<datasets>/<sha256>/train.parquet", ...}}

The answer is the run (id, name, state, ``_links.web.href``). Failures are ``AzureDevOpsError``
(502: the upstream refused, not the caller): a refused token and an unknown pipeline each get a
message naming the setting to fix. What the controller passes and how the run reports back is
``handoff.py``.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, SecretStr

from driftloop.errors import DriftloopError

API_VERSION = "7.1"


class AzureDevOpsSettings(BaseModel):
    """``DRIFTLOOP_AZURE_DEVOPS__*``: where the retrain pipeline lives (empty organization: not used)."""

    organization: str = ""
    """Azure DevOps organization (the ``{organization}`` in dev.azure.com/{organization})."""
    project: str = ""
    """Project that holds the retrain pipeline."""
    pipeline_id: int | None = None
    """Numeric id of the pipeline defined by azure-pipelines/retrain.yml."""
    token: SecretStr = SecretStr("")
    """Personal access token with the Build (read & execute) scope; from a Secret, never a file."""
    ref_name: str = "refs/heads/main"
    """Branch whose retrain.yml is run."""
    base_url: str = "https://dev.azure.com"
    """Service root (overridden by tests, or for Azure DevOps Server)."""
    timeout_s: float = 15.0
    """How long one call may take."""
    datasets_mount: Path = Path("/var/lib/driftloop/datasets")
    """The training sets' volume, as the controller and the pipeline's training Job both mount it: the
    challenger's training configuration is written under ``jobs/`` there."""

    @property
    def configured(self) -> bool:
        return bool(self.organization and self.project and self.pipeline_id and self.token.get_secret_value())


class AzureDevOpsError(DriftloopError):
    """Azure DevOps refused or failed to start the pipeline run."""

    status_code = 502
    code = "azure_devops_error"


class AzureDevOpsAuthError(AzureDevOpsError):
    code = "azure_devops_unauthorized"


class AzureDevOpsNotFoundError(AzureDevOpsError):
    code = "azure_devops_pipeline_not_found"


@dataclass(frozen=True)
class PipelineRun:
    """The run Azure DevOps started."""

    id: int
    name: str
    state: str
    web_url: str | None


class AzureDevOpsClient:
    """A small async client for one pipeline; use as ``async with AzureDevOpsClient(settings) as client``."""

    def __init__(self, settings: AzureDevOpsSettings, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        if not settings.configured:
            raise AzureDevOpsError(
                "Azure DevOps is not configured: set DRIFTLOOP_AZURE_DEVOPS__ORGANIZATION, __PROJECT, "
                "__PIPELINE_ID and __TOKEN"
            )
        self.settings = settings
        # Basic auth with an empty user name and the PAT as the password, as Azure DevOps documents.
        credentials = base64.b64encode(f":{settings.token.get_secret_value()}".encode()).decode()
        self._http = httpx.AsyncClient(
            base_url=settings.base_url.rstrip("/"),
            headers={"Authorization": f"Basic {credentials}", "Accept": "application/json"},
            timeout=settings.timeout_s,
            transport=transport,
        )

    async def __aenter__(self) -> AzureDevOpsClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    @property
    def runs_path(self) -> str:
        s = self.settings
        return f"/{s.organization}/{s.project}/_apis/pipelines/{s.pipeline_id}/runs"

    async def run_pipeline(self, template_parameters: dict[str, str], *, ref_name: str | None = None) -> PipelineRun:
        """Queue one run of the pipeline with these template parameters (all strings, as YAML gets them)."""
        body = {
            "resources": {"repositories": {"self": {"refName": ref_name or self.settings.ref_name}}},
            "templateParameters": template_parameters,
        }
        where = f"pipeline {self.settings.pipeline_id} in {self.settings.organization}/{self.settings.project}"
        try:
            response = await self._http.post(self.runs_path, params={"api-version": API_VERSION}, json=body)
        except httpx.HTTPError as exc:
            raise AzureDevOpsError(f"could not reach Azure DevOps at {self.settings.base_url}: {exc}") from exc
        if response.status_code == 401 or _is_sign_in_page(response):
            raise AzureDevOpsAuthError(
                f"Azure DevOps refused the token for {where} ({response.status_code}): check that "
                "DRIFTLOOP_AZURE_DEVOPS__TOKEN is a valid PAT with the Build (read & execute) scope"
            )
        if response.status_code == 404:
            raise AzureDevOpsNotFoundError(
                f"Azure DevOps has no {where} (404: {_message(response)}): check DRIFTLOOP_AZURE_DEVOPS__"
                "ORGANIZATION, __PROJECT and __PIPELINE_ID"
            )
        if response.status_code >= 400:
            raise AzureDevOpsError(
                f"Azure DevOps refused to run {where} ({response.status_code}: {_message(response)})"
            )
        run: dict[str, Any] = response.json()
        web = run.get("_links", {}).get("web", {}).get("href")
        return PipelineRun(
            id=int(run["id"]), name=str(run.get("name", "")), state=str(run.get("state", "")), web_url=web
        )

    async def start_retrain(self, model_name: str, reason: str, **paths: str | None) -> PipelineRun:
        """Run retrain.yml for one model; ``paths`` as in :func:`retrain_parameters`."""
        return await self.run_pipeline(retrain_parameters(model_name, reason, **paths))


# retrain_parameters' keywords and the retrain.yml parameters they fill.
PARAMETER_NAMES = {
    "target": "target",
    "data_path": "dataPath",
    "holdout_path": "holdoutPath",
    "config_path": "configPath",
    "job_id": "jobId",
}


def retrain_parameters(model_name: str, reason: str, **values: str | None) -> dict[str, str]:
    """The templateParameters of azure-pipelines/retrain.yml (its parameter names; values are strings).

    ``values``: ``target``, ``data_path`` (the snapshot's train.parquet), ``holdout_path``,
    ``config_path`` (the training configuration) and ``job_id`` (whose record the run reports to);
    one that is None is left to the pipeline's default.
    """
    parameters = {"modelName": model_name, "reason": reason}
    for keyword, value in values.items():
        if value is not None:
            parameters[PARAMETER_NAMES[keyword]] = value
    return parameters


def _is_sign_in_page(response: httpx.Response) -> bool:
    # An unusable PAT can also get "203 Non-Authoritative Information" with an HTML sign-in page.
    content_type = response.headers.get("content-type", "")
    return response.status_code == 203 or (response.is_success and "json" not in content_type)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json().get("message", response.text[:200]))
    except ValueError:
        return response.text[:200]
