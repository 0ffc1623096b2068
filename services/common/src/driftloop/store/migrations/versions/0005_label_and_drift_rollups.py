"""Labelled counts in traffic_minutes, the 5-minute drift rollup drift_slots, drift_metrics (model, window_end).

Revision ID: 0005_label_and_drift_rollups
Revises: 0004_traffic_rollup

``labelled``, ``correct`` and ``error_sum`` per model, version and minute of the prediction
(store/rollup.py, store/labels.py), and ``drift_slots`` (store/drift_rollup.py). The pairs and
drift rows already in the store are rolled up here, so the performance and drift charts stay
exact for a store that had feedback and drift windows before the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_label_and_drift_rollups"
down_revision: str | None = "0004_traffic_rollup"
branch_labels = None
depends_on = None

CHUNK = 50_000


def upgrade() -> None:
    op.add_column("traffic_minutes", sa.Column("labelled", sa.Integer, nullable=False, server_default="0"))
    op.add_column("traffic_minutes", sa.Column("correct", sa.Integer, nullable=False, server_default="0"))
    op.add_column("traffic_minutes", sa.Column("error_sum", sa.Float, nullable=False, server_default="0"))
    op.create_table(
        "drift_slots",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("slot", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("column_name", sa.String(200), primary_key=True),
        sa.Column("statistic", sa.String(100), primary_key=True),
        sa.Column("windows", sa.Integer, nullable=False),
        sa.Column("value_sum", sa.Float, nullable=False),
        sa.Column("value_count", sa.Integer, nullable=False),
        sa.Column("threshold_sum", sa.Float, nullable=False),
        sa.Column("threshold_count", sa.Integer, nullable=False),
        sa.Column("drifted", sa.Integer, nullable=False),
        sa.Column("verdicts", sa.Integer, nullable=False),
    )
    op.create_index("ix_drift_metrics_model_end", "drift_metrics", ["model", "window_end"])
    _count_existing_pairs()
    _roll_up_existing_drift()


def _count_existing_pairs() -> None:
    # Imported here: the migration must not import the store package at module load.
    from driftloop.store.labels import count_pairs, span_pairs
    from driftloop.store.models import Feedback
    from driftloop.store.rollup import add_to_rollup

    connection = op.get_bind()
    models = [model for (model,) in connection.execute(sa.select(Feedback.model).distinct()).all()]
    for model in models:  # a model's increments are per minute: bounded by its minutes, not its rows
        add_to_rollup(connection, count_pairs(span_pairs(connection, model, None, None)))


def _roll_up_existing_drift() -> None:
    from driftloop.store.drift import DriftMetric
    from driftloop.store.drift_rollup import CHARTED_STATISTICS, add_to_drift_rollup, count_slots

    connection = op.get_bind()
    query = sa.select(
        DriftMetric.model,
        DriftMetric.window_end,
        DriftMetric.column_name,
        DriftMetric.statistic,
        DriftMetric.value,
        DriftMetric.threshold,
        DriftMetric.drifted,
    ).where(DriftMetric.statistic.in_(CHARTED_STATISTICS))
    # All increments first, then one upsert: the slots are few, and the read is not interleaved with writes.
    stream = {"stream_results": True, "yield_per": CHUNK}
    slots = count_slots(row._asdict() for row in connection.execute(query.execution_options(**stream)))
    add_to_drift_rollup(connection, slots)


def downgrade() -> None:
    op.drop_index("ix_drift_metrics_model_end", table_name="drift_metrics")
    op.drop_table("drift_slots")
    with op.batch_alter_table("traffic_minutes") as batch:  # SQLite drops columns by copying the table
        batch.drop_column("error_sum")
        batch.drop_column("correct")
        batch.drop_column("labelled")
