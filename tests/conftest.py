"""Session fixtures shared by tests/integration and tests/e2e: one real Apache Kafka (KRaft) broker
and one PostgreSQL cluster for the whole run, started on first use (unit tests start neither).

``kafka_broker`` is the bootstrap address (``"127.0.0.1:<port>"``); ``postgres_url`` the
SQLAlchemy URL of the cluster's ``postgres`` database; ``fresh_database`` an empty database of
the test's own. The servers are in tests/integration/integration_servers.py.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "integration"))

from integration_servers import KafkaServer, PostgresServer, running_postgres


@pytest.fixture(scope="session")
def kafka_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A single-node Apache Kafka 4.x broker for the whole session: its bootstrap address."""
    server = KafkaServer(tmp_path_factory.mktemp("kafka"))
    server.start()
    try:
        yield server.bootstrap
    finally:
        server.stop()


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresServer]:
    with running_postgres() as server:
        yield server


@pytest.fixture(scope="session")
def postgres_url(postgres_cluster: PostgresServer) -> str:
    """SQLAlchemy URL of the session's PostgreSQL (database ``postgres``)."""
    return postgres_cluster.url


@pytest.fixture
def fresh_database(postgres_cluster: PostgresServer) -> str:
    """SQLAlchemy URL of an empty database of this test's own on the session's PostgreSQL."""
    return postgres_cluster.create_database(f"t_{uuid.uuid4().hex[:12]}")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Sum what the fault and bad-input tests counted (``record_property("tally", (suite, {name: n}))``)."""
    totals: dict[str, dict[str, int]] = {}
    for outcome in ("passed", "failed"):
        for report in terminalreporter.stats.get(outcome, []):
            for key, value in getattr(report, "user_properties", []):
                if key == "tally" and report.when == "call":
                    suite, counts = value
                    for name, count in counts.items():
                        totals.setdefault(suite, {}).setdefault(name, 0)
                        totals[suite][name] += count
    if totals:
        terminalreporter.section("fault and bad-input counts")
        for suite, counts in sorted(totals.items()):
            terminalreporter.line(f"{suite}: " + ", ".join(f"{name} {count}" for name, count in counts.items()))
