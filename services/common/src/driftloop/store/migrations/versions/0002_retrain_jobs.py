"""The retrain-controller's jobs: retrain_jobs (state, trigger, idempotency key, evidence, decision, log).

Revision ID: 0002_retrain_jobs
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0002_retrain_jobs"
down_revision: str | None = "0001"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "retrain_jobs",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("state", sa.String(16), nullable=False, index=True),
        sa.Column("trigger", sa.String(200), nullable=False),
        # Unique: a repeated delivery of one firing can never create a second job.
        sa.Column("idempotency_key", sa.String(200), nullable=True, unique=True),
        sa.Column("evidence", JSON, nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dataset_id", sa.String(200), nullable=True),
        sa.Column("challenger_version", sa.Integer, nullable=True),
        sa.Column("decision", JSON, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("log", sa.Text, nullable=False),
    )


def downgrade() -> None:
    op.drop_table("retrain_jobs")
