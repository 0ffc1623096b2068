"""Per-minute traffic rollup (traffic_minutes) and the predictions(model, time) index.

Revision ID: 0004_traffic_rollup
Revises: 0003_drift

Existing predictions and rejected rows are rolled up here, so the dashboard's totals stay exact
for a store that had traffic before the upgrade.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0004_traffic_rollup"
down_revision: str | None = "0003_drift"
branch_labels = None
depends_on = None

CHUNK = 50_000
NULLABLE_JSON = sa.JSON(none_as_null=True).with_variant(JSONB(none_as_null=True), "postgresql")


def upgrade() -> None:
    op.create_table(
        "traffic_minutes",
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("version", sa.Integer, primary_key=True),
        sa.Column("minute", sa.DateTime(timezone=True), primary_key=True),
        sa.Column("requests", sa.Integer, nullable=False),
        sa.Column("records", sa.Integer, nullable=False),
        sa.Column("rejected", sa.Integer, nullable=False),
        sa.Column("latency_bins", NULLABLE_JSON, nullable=True),
        sa.Column("label_counts", NULLABLE_JSON, nullable=True),
        sa.Column("value_sum", sa.Float, nullable=False),
        sa.Column("value_count", sa.Integer, nullable=False),
    )
    op.create_index("ix_predictions_model_time", "predictions", ["model", "time"])
    _roll_up_existing_rows()


def _roll_up_existing_rows() -> None:
    # Imported here: the migration must not import the store package at module load.
    from driftloop.store.models import Prediction, Rejected
    from driftloop.store.rollup import add_to_rollup, count_minutes

    connection = op.get_bind()
    columns = (
        Prediction.model,
        Prediction.version,
        Prediction.time,
        Prediction.record_index,
        Prediction.latency_ms,
        Prediction.prediction,
    )
    # In chunks (the increments add up), so a big store is rolled up in bounded memory.
    # (options on the statements: Connection.execution_options would stay on alembic's connection)
    stream = {"stream_results": True, "yield_per": CHUNK}
    for chunk in connection.execute(sa.select(*columns).execution_options(**stream)).partitions():
        add_to_rollup(connection, count_minutes([row._asdict() for row in chunk], []))
    refused = sa.select(Rejected.model, Rejected.version, Rejected.time)
    for chunk in connection.execute(refused.execution_options(**stream)).partitions():
        add_to_rollup(connection, count_minutes([], [row._asdict() for row in chunk]))


def downgrade() -> None:
    op.drop_index("ix_predictions_model_time", table_name="predictions")
    op.drop_table("traffic_minutes")
