"""End-to-end fixtures: free ports for the four services, and the real Kafka broker and PostgreSQL
of the integration tests (their server classes, started here so that tests/e2e runs on its own).
"""

from __future__ import annotations

import shutil
import sys
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "integration"))

from integration_servers import KafkaServer, PostgresServer, free_port

from driftloop.demo.supervisor import Ports


@pytest.fixture
def ports() -> Ports:
    return Ports(scoring=free_port(), features=free_port(), forwarder=free_port(), controller=free_port())


@pytest.fixture(scope="session")
def e2e_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single-node Apache Kafka broker: its bootstrap address."""
    server = KafkaServer(tmp_path_factory.mktemp("kafka"), partitions=1)
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


@pytest.fixture(scope="session")
def e2e_postgres() -> Iterator[PostgresServer]:
    workdir = Path(tempfile.mkdtemp(prefix="driftloop-e2e-pg-"))
    server = PostgresServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture
def e2e_database(e2e_postgres: PostgresServer) -> str:
    """A SQLAlchemy URL of an empty database of this test's own."""
    return str(e2e_postgres.create_database(f"e2e_{uuid.uuid4().hex[:12]}"))
