"""Servers of a test's own for the fault tests that kill and restart them: ``kafka_server`` and
``postgres_server`` (function scope). The session's shared broker and cluster (``kafka_broker``,
``postgres_url``, ``fresh_database``) are in tests/conftest.py; the servers themselves in
integration_servers.py.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from integration_servers import KafkaServer, PostgresServer, running_postgres


@pytest.fixture
def kafka_server(tmp_path: Path) -> Iterator[KafkaServer]:
    """A broker of this test's own, for tests that kill and restart it."""
    server = KafkaServer(tmp_path / "kafka")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_server() -> Iterator[PostgresServer]:
    """A PostgreSQL of this test's own, for tests that restart it."""
    with running_postgres() as server:
        yield server
