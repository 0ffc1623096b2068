"""End-to-end fixtures: free ports for the four services. The real Kafka broker and PostgreSQL
(``kafka_broker``, ``fresh_database``) are the session's, from tests/conftest.py.
"""

from __future__ import annotations

import pytest
from integration_servers import free_port

from driftloop.demo.supervisor import Ports


@pytest.fixture
def ports() -> Ports:
    return Ports(scoring=free_port(), features=free_port(), forwarder=free_port(), controller=free_port())
