"""The controller's settings from the environment, its open mode, and the retrain_jobs table."""

from __future__ import annotations

import httpx
import orjson
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Engine, inspect
from sqlalchemy.exc import IntegrityError

from driftloop.store import jobs as states
from driftloop.store.jobs import JobStore, RetrainJob
from driftloop.store.migrate import current_revision
from driftloop_controller.app import create_app
from driftloop_controller.controller import Controller
from driftloop_controller.settings import ControllerSettings


def test_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DRIFTLOOP_WEBHOOK__SECRET", "s3cret")
    monkeypatch.setenv("DRIFTLOOP_AUTH__ADMIN_TOKEN", "admin")
    monkeypatch.setenv("DRIFTLOOP_FEATURES__URL", "http://features:8081")
    monkeypatch.setenv("DRIFTLOOP_ROLLOUT__ENABLED", "true")
    monkeypatch.setenv("DRIFTLOOP_ROLLOUT__NAMESPACE", "ml")
    monkeypatch.setenv("DRIFTLOOP_ROLLOUT__DEPLOYMENT", "scoring")
    monkeypatch.setenv("DRIFTLOOP_POLICY", "/etc/driftloop/policy.yaml")
    monkeypatch.setenv("DRIFTLOOP_STORE__URL", "sqlite:///x.db")
    settings = ControllerSettings()
    assert settings.port == 8083
    assert settings.webhook.secret == "s3cret" and settings.auth.admin_token == "admin"  # noqa: PT018
    assert settings.features.url == "http://features:8081"
    assert (settings.rollout.enabled, settings.rollout.namespace, settings.rollout.deployment) == (
        True,
        "ml",
        "scoring",
    )
    assert settings.policy == "/etc/driftloop/policy.yaml"
    assert settings.store.url == "sqlite:///x.db"
    assert not settings.azure_devops.configured


def test_the_migration_creates_retrain_jobs_as_the_model_describes_it(engine: Engine) -> None:
    # At or past the migration that made the table (later migrations, e.g. 0003_drift, add other tables).
    revision = current_revision(engine)
    assert revision is not None
    assert revision >= "0002_retrain_jobs"
    assert "retrain_jobs" in inspect(engine).get_table_names()
    with engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), RetrainJob.metadata)
    assert [d for d in differences if "retrain_jobs" in repr(d)] == []


def test_idempotency_keys_are_unique_in_the_database(engine: Engine) -> None:
    jobs = JobStore(engine)
    jobs.create("credit", "drift", {}, "key-1")
    with pytest.raises(IntegrityError):
        jobs.create("credit", "drift", {}, "key-1")
    jobs.create("credit", "manual", {}, None)  # no key: any number of them
    jobs.create("credit", "manual", {}, None)
    assert len(jobs.recent("credit")) == 3


def test_running_jobs_are_failed_at_start_and_queued_ones_kept(engine: Engine) -> None:
    jobs = JobStore(engine)
    running = jobs.create("credit", "drift", {}, "a")
    jobs.transition(running.id, (states.QUEUED,), states.RUNNING, started_at=states.now())
    queued = jobs.create("other", "drift", {}, "b")
    assert jobs.fail_interrupted() == [running.id]
    failed = jobs.get(running.id)
    assert failed is not None
    assert failed.state == "failed"
    assert "the registry was not changed" in (failed.error or "")
    assert [job.id for job in jobs.queued()] == [queued.id]


@pytest.mark.anyio
async def test_without_a_secret_the_webhook_is_open(settings: ControllerSettings, engine: Engine) -> None:
    settings.webhook.secret = ""
    app = create_app(settings)
    app.state.controller = Controller(settings, engine)
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://controller") as client:
        response = await client.post("/v1/retrain", content=orjson.dumps({"model": "credit"}))
    assert response.status_code == 202
    assert response.json()["job"]["trigger"] == "webhook"
