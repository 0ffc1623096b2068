"""Real Apache Kafka (KRaft) and PostgreSQL for the integration tests, started and stopped here.

Session fixtures other tests may use: ``kafka_broker`` (bootstrap ``"127.0.0.1:<port>"``) and
``postgres_url`` (a SQLAlchemy URL of a throwaway cluster). ``fresh_database`` gives each test
its own empty database on that cluster. Fault tests that kill a server get their own with
``kafka_server`` / ``postgres_server`` (function scope, restartable). The servers themselves
are in integration_servers.py.
"""

from __future__ import annotations

import shutil
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_servers import KafkaServer, PostgresServer


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single-node Apache Kafka 4.x broker for the whole session: its bootstrap address."""
    server = KafkaServer(tmp_path_factory.mktemp("kafka"))
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


@pytest.fixture
def kafka_server(tmp_path: Path) -> Iterator[KafkaServer]:
    """A broker of this test's own, for tests that kill and restart it."""
    server = KafkaServer(tmp_path / "kafka")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresServer]:
    workdir = Path(tempfile.mkdtemp(prefix="driftloop-pg-"))
    server = PostgresServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresServer) -> str:
    """SQLAlchemy URL of the session's PostgreSQL (database ``postgres``)."""
    return postgres_cluster.url


@pytest.fixture
def fresh_database(postgres_cluster: PostgresServer) -> str:
    """SQLAlchemy URL of an empty database of this test's own on the session's PostgreSQL."""
    return postgres_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, for tests that restart it."""
    workdir = Path(tempfile.mkdtemp(prefix="driftloop-pg-"))
    server = PostgresServer(workdir)
    server.start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(workdir, ignore_errors=True)
