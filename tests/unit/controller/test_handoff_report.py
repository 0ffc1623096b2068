"""The retrain pipeline's report to the job it was handed (``POST /v1/jobs/{id}/pipeline-run``) and a
handed-off job across a controller restart, over the real routes and a migrated SQLite store.

The hand-off itself (dataset, parameters, the run started) and the pipeline's side are tested end
to end in tests/unit/ship/test_retrain_handoff.py; here a job is put in the state the hand-off
leaves it in, so that every rule of the report is checked on its own.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from controller_support import ADMIN
from sqlalchemy import Engine

from driftloop.store import jobs as states
from driftloop.store.jobs import JobStore
from driftloop_controller.controller import Controller
from driftloop_controller.handoff import HANDED_OFF
from driftloop_controller.settings import ControllerSettings

pytestmark = pytest.mark.anyio
RUN = {"id": 1001, "name": "20261204.1", "url": "https://dev.azure.com/o/p/_build/results?buildId=1001"}
GATE = {"promote": True, "metric": "roc_auc", "champion_score": 0.74, "challenger_score": 0.81, "reasons": ["gain"]}
AUTH = {"Authorization": f"Bearer {ADMIN}"}


def handed_off(engine: Engine) -> str:
    """A running job whose decision names its run, as JobRunner leaves a hand-off."""
    jobs = JobStore(engine)
    job = jobs.create("credit", "drift:psi", {"model": "credit"}, None)
    decision = {
        "outcome": HANDED_OFF,
        "promote": False,
        "dataset": {"id": "ds-1", "sha256": "ab" * 32},
        "azure_devops_run": {**RUN, "state": "inProgress", "result": None},
    }
    jobs.transition(job.id, (states.QUEUED,), states.RUNNING, started_at=states.now(), decision=decision)
    return job.id


async def report(client: httpx.AsyncClient, job_id: str, **body: Any) -> httpx.Response:
    return await client.post(f"/v1/jobs/{job_id}/pipeline-run", json={"run_id": 1001, **body}, headers=AUTH)


async def test_a_promoting_run_finishes_the_job_with_the_gate_decision_and_the_run(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    job_id = handed_off(engine)
    answer = await report(client, job_id, result="succeeded", outcome="promoted", challenger_version=3, decision=GATE)
    assert answer.status_code == 200, answer.text
    job = (await client.get(f"/v1/jobs/{job_id}")).json()
    assert (job["state"], job["challenger_version"], job["error"]) == ("succeeded", 3, None)
    decision = job["decision"]
    assert (decision["outcome"], decision["promote"], decision["challenger_score"]) == ("promoted", True, 0.81)
    assert decision["dataset"] == {"id": "ds-1", "sha256": "ab" * 32}  # the controller's, not the report's
    assert decision["azure_devops_run"] == {**RUN, "state": "completed", "result": "succeeded"}
    assert job["log"][-1].endswith("Azure DevOps run 1001 succeeded: promoted")
    metrics = (await client.get("/metrics")).text
    assert 'driftloop_controller_jobs_total{model="credit",outcome="promoted"}' in metrics


async def test_a_failed_run_fails_the_job_saying_where(client: httpx.AsyncClient, engine: Engine) -> None:
    job_id = handed_off(engine)
    answer = await report(client, job_id, result="failed", message="the Train stage failed (see its log)")
    assert answer.status_code == 200
    job = answer.json()
    assert job["state"] == "failed"
    assert job["error"] == "Azure DevOps run 1001 failed: the Train stage failed (see its log)"
    assert (job["decision"]["outcome"], job["decision"]["azure_devops_run"]["result"]) == ("failed", "failed")


async def test_the_same_report_twice_changes_nothing(client: httpx.AsyncClient, engine: Engine) -> None:
    job_id = handed_off(engine)
    first = await report(client, job_id, result="succeeded", outcome="rejected")
    again = await report(client, job_id, result="succeeded", outcome="rejected")
    assert again.status_code == 200
    assert again.json() == first.json()


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"run_id": 1002, "result": "failed"}, "run_id", "was handed to run 1001, not run 1002"),
        ({"run_id": 1001, "result": "succeeded"}, "outcome", "reports its outcome"),
    ],
)
async def test_a_report_that_does_not_fit_the_job_is_a_conflict(
    client: httpx.AsyncClient, engine: Engine, body: dict[str, Any], field: str, message: str
) -> None:
    job_id = handed_off(engine)
    answer = await client.post(f"/v1/jobs/{job_id}/pipeline-run", json=body, headers=AUTH)
    assert answer.status_code == 409
    assert answer.json()["error"]["details"] == {"field": field}
    assert message in answer.json()["error"]["message"]
    assert (await client.get(f"/v1/jobs/{job_id}")).json()["state"] == "running"


async def test_a_job_never_handed_off_takes_no_report(client: httpx.AsyncClient, engine: Engine) -> None:
    job = JobStore(engine).create("credit", "drift:psi", {"model": "credit"}, None)
    answer = await report(client, job.id, result="failed")
    assert answer.status_code == 409
    assert "was not handed off to Azure DevOps" in answer.json()["error"]["message"]
    assert (await report(client, "no-such-job", result="failed")).status_code == 404


async def test_the_report_takes_the_admin_token_and_a_valid_body(client: httpx.AsyncClient, engine: Engine) -> None:
    job_id = handed_off(engine)
    url = f"/v1/jobs/{job_id}/pipeline-run"
    assert (await client.post(url, json={"run_id": 1001, "result": "failed"})).status_code == 401
    wrong = {"Authorization": "Bearer not-the-token"}
    assert (await client.post(url, json={"run_id": 1001, "result": "failed"}, headers=wrong)).status_code == 401
    bad = await client.post(url, json={"run_id": 1001, "result": "exploded"}, headers=AUTH)
    assert bad.status_code == 422
    assert "result" in bad.text
    assert (await client.get(url.removesuffix("/pipeline-run"))).json()["state"] == "running"


async def test_a_report_for_a_job_cancelled_meanwhile_is_recorded_without_reviving_it(
    client: httpx.AsyncClient, engine: Engine
) -> None:
    job_id = handed_off(engine)
    assert (await client.post(f"/v1/jobs/{job_id}/cancel", headers=AUTH)).status_code == 200
    answer = await report(client, job_id, result="canceled", message="canceled at the gate")
    assert answer.status_code == 200
    job = answer.json()
    assert job["state"] == "cancelled"
    assert job["decision"]["azure_devops_run"]["result"] == "canceled"
    assert "(recorded; the job was already cancelled)" in job["log"][-1]


async def test_a_restart_keeps_a_handed_off_job_running_and_fails_an_interrupted_one(
    settings: ControllerSettings, engine: Engine
) -> None:
    handed = handed_off(engine)
    jobs = JobStore(engine)
    interrupted = jobs.create("other", "drift:psi", {"model": "other"}, None)
    jobs.transition(interrupted.id, (states.QUEUED,), states.RUNNING)
    async with Controller(settings, engine):
        pass
    assert jobs.get(handed).state == "running"  # type: ignore[union-attr]  # its pipeline reports its end
    assert jobs.get(interrupted.id).state == "failed"  # type: ignore[union-attr]
