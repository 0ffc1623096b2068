"""Drift monitoring: drift_metrics (window statistics), rule_firings (with delivery), rule_state.

Revision ID: 0003_drift
Revises: 0002_retrain_jobs
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0003_drift"
down_revision: str | None = "0002_retrain_jobs"
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(JSONB(), "postgresql")
BIGINT_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "drift_metrics",
        sa.Column("id", BIGINT_ID, primary_key=True, autoincrement=True),
        sa.Column("model", sa.String(200), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("window_index", sa.Integer, nullable=False),
        sa.Column("window_start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("window_end", sa.DateTime(timezone=True), nullable=False, index=True),
        sa.Column("column_name", sa.String(200), nullable=False),
        sa.Column("statistic", sa.String(100), nullable=False),
        sa.Column("value", sa.Float, nullable=True),
        sa.Column("threshold", sa.Float, nullable=True),
        sa.Column("drifted", sa.Boolean, nullable=True),
        sa.Column("n", sa.Integer, nullable=False),
        sa.Column("label_coverage", sa.Float, nullable=True),
    )
    op.create_index("ix_drift_metrics_window", "drift_metrics", ["model", "version", "window_index"])
    op.create_table(
        "rule_firings",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("rule", sa.String(200), nullable=False),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("model", sa.String(200), nullable=False, index=True),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("window_index", sa.Integer, nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("body", JSON, nullable=False),
        sa.Column("delivery_status", sa.String(16), nullable=True, index=True),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("http_status", sa.Integer, nullable=True),
        sa.Column("error", sa.Text, nullable=True),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("response", sa.Text, nullable=True),
    )
    op.create_table(
        "rule_state",
        sa.Column("rule", sa.String(200), primary_key=True),
        sa.Column("model", sa.String(200), primary_key=True),
        sa.Column("fired_at", sa.Float, nullable=True),
        sa.Column("awaiting_retrain", sa.Boolean, nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("rule_state")
    op.drop_table("rule_firings")
    op.drop_index("ix_drift_metrics_window", table_name="drift_metrics")
    op.drop_table("drift_metrics")
