"""Event time: predictions.served_at and feedback.received_at.

Revision ID: 0006_event_time
Revises: 0005_label_and_drift_rollups

From this revision a row's ``time`` is its event time (when the record happened, or when the label
became known, as the client said: driftloop.eventtime), and the time the service answered or took
the feedback moves to ``served_at`` / ``received_at``. Rows stored before it keep NULL there: their
``time`` was that time already, and rewriting every stored row would hold the tables for minutes.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_event_time"
down_revision: str | None = "0005_label_and_drift_rollups"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("predictions", sa.Column("served_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("feedback", sa.Column("received_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("feedback") as batch:
        batch.drop_column("received_at")
    with op.batch_alter_table("predictions") as batch:
        batch.drop_column("served_at")
