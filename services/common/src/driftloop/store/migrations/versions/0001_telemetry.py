"""Telemetry tables: predictions, feedback, rejected, dead_letters, and the labelled_predictions view.

Revision ID: 0001
Revises:
Later migrations (drift_metrics, retrain_jobs, ...) chain on with down_revision = "0001".
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision: str | None = None
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
NOW = sa.func.now()

# Feedback joins predictions by request id, and by record index unless the label is for every
# record of the request (record_index NULL); it does not matter which of the two arrived first.
LABELLED_VIEW = """
CREATE VIEW labelled_predictions AS
SELECT p.event_id, p.record_index, p.model, p.version, p.request_id, p.time,
       p.record, p.prediction, p.probabilities, f.actual, f.time AS feedback_time
FROM predictions p
JOIN feedback f
  ON f.request_id = p.request_id AND f.model = p.model
 AND (f.record_index IS NULL OR f.record_index = p.record_index)
"""


def upgrade() -> None:
    op.create_table(
        "predictions",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("record_index", sa.Integer, primary_key=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("request_id", sa.String(200), nullable=False, index=True),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("record", JSON, nullable=False),
        sa.Column("prediction", JSON, nullable=False),
        sa.Column("probabilities", JSON, nullable=True),
        sa.Column("latency_ms", sa.Float, nullable=False),
        sa.Column("unseen", JSON, nullable=True),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "feedback",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("request_id", sa.String(200), nullable=False, index=True),
        sa.Column("record_index", sa.Integer, nullable=True),
        sa.Column("actual", JSON, nullable=False),
        sa.Column("known_request", sa.Boolean, nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "rejected",
        sa.Column("event_id", sa.String(128), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=True),
        sa.Column("request_id", sa.String(200), nullable=False),
        sa.Column("time", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("status", sa.Integer, nullable=False),
        sa.Column("error", JSON, nullable=False),
        sa.Column("body", sa.Text, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.create_table(
        "dead_letters",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer, "sqlite"), primary_key=True, autoincrement=True),
        sa.Column("position", sa.String(300), nullable=False, unique=True),
        sa.Column("reason", sa.Text, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("stored_at", sa.DateTime(timezone=True), nullable=False, server_default=NOW),
    )
    op.execute(LABELLED_VIEW)


def downgrade() -> None:
    op.execute("DROP VIEW labelled_predictions")
    for table in ("dead_letters", "rejected", "feedback", "predictions"):
        op.drop_table(table)
