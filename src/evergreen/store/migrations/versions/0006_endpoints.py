"""serving endpoints; feedback labels; the endpoint of prediction segments

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-27 13:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evergreen.store.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "endpoints",
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("policy", sa.JSON(), nullable=False),
        sa.Column("created_at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("updated_by", sa.String(length=128), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_endpoints")),
    )
    op.create_table(
        "feedback",
        sa.Column("request_id", sa.String(length=128), nullable=False),
        sa.Column("label", sa.JSON(), nullable=False),
        sa.Column("at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("request_id", name=op.f("pk_feedback")),
    )
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_feedback_at"), ["at"], unique=False)
    with op.batch_alter_table("prediction_segments", schema=None) as batch_op:
        batch_op.add_column(sa.Column("endpoint", sa.String(length=128), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_prediction_segments_endpoint"), ["endpoint"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("prediction_segments", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_prediction_segments_endpoint"))
        batch_op.drop_column("endpoint")
    with op.batch_alter_table("feedback", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_feedback_at"))
    op.drop_table("feedback")
    op.drop_table("endpoints")
