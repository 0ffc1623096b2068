"""The SQL store: predictions, feedback, rejected requests and dead letters (SQLAlchemy 2 + alembic).

SQLite embedded, PostgreSQL in clusters. Needs the ``driftloop[store]`` extra.
"""

from driftloop.store.drift import DriftMetric, RuleFiring, RuleState
from driftloop.store.engine import make_engine

# Every table module is imported here, so that Base.metadata always describes the whole schema.
from driftloop.store.jobs import RetrainJob
from driftloop.store.migrate import upgrade
from driftloop.store.rollup import TrafficMinute
from driftloop.store.settings import StoreSettings
from driftloop.store.writer import WriteResult, count_rows, write_batch

__all__ = [
    "DriftMetric",
    "RetrainJob",
    "RuleFiring",
    "RuleState",
    "StoreSettings",
    "TrafficMinute",
    "WriteResult",
    "count_rows",
    "make_engine",
    "upgrade",
    "write_batch",
]
