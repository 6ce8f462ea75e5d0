"""monitor series (feature, window); alerts; level-2 rollouts; deferred trigger events

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-27 16:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evergreen.store.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("not_before", evergreen.store.tables.UTCDateTime(), nullable=True)
        )
    with op.batch_alter_table("monitor_results", schema=None) as batch_op:
        batch_op.add_column(sa.Column("feature", sa.String(length=256), nullable=True))
        batch_op.add_column(
            sa.Column("window_start", evergreen.store.tables.UTCDateTime(), nullable=True)
        )
        batch_op.add_column(
            sa.Column("window_end", evergreen.store.tables.UTCDateTime(), nullable=True)
        )
        batch_op.create_index("ix_monitor_results_series", ["model", "kind", "at"], unique=False)
    op.create_table(
        "alerts",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("project", sa.String(length=128), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("version", sa.Integer(), nullable=True),
        sa.Column("rule", sa.String(length=128), nullable=False),
        sa.Column("series", sa.String(length=128), nullable=False),
        sa.Column("feature", sa.String(length=256), nullable=True),
        sa.Column("value", sa.Double(), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("deliveries", sa.JSON(), nullable=False),
        sa.Column("delivered_at", evergreen.store.tables.UTCDateTime(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
    )
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_alerts_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_project"), ["project"], unique=False)
        batch_op.create_index(batch_op.f("ix_alerts_status"), ["status"], unique=False)
    op.create_table(
        "rollouts",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("model", sa.String(length=128), nullable=False),
        sa.Column("candidate_version", sa.Integer(), nullable=False),
        sa.Column("champion_version", sa.Integer(), nullable=True),
        sa.Column("stage", sa.String(length=32), nullable=False),
        sa.Column("traffic", sa.Double(), nullable=False),
        sa.Column("started_at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("finished_at", evergreen.store.tables.UTCDateTime(), nullable=True),
        sa.Column("run_id", sa.String(length=80), nullable=True),
        sa.Column("event_id", sa.String(length=80), nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("history", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rollouts")),
    )
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_rollouts_model"), ["model"], unique=False)
        batch_op.create_index(batch_op.f("ix_rollouts_stage"), ["stage"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("rollouts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_rollouts_stage"))
        batch_op.drop_index(batch_op.f("ix_rollouts_model"))
    op.drop_table("rollouts")
    with op.batch_alter_table("alerts", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_alerts_status"))
        batch_op.drop_index(batch_op.f("ix_alerts_project"))
        batch_op.drop_index(batch_op.f("ix_alerts_at"))
    op.drop_table("alerts")
    with op.batch_alter_table("monitor_results", schema=None) as batch_op:
        batch_op.drop_index("ix_monitor_results_series")
        batch_op.drop_column("window_end")
        batch_op.drop_column("window_start")
        batch_op.drop_column("feature")
    with op.batch_alter_table("trigger_events", schema=None) as batch_op:
        batch_op.drop_column("not_before")
