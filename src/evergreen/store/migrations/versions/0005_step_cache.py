"""step cache; model version exports

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-27 10:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evergreen.store.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "step_cache",
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=64), nullable=False),
        sa.Column("created_at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("run_id", sa.String(length=80), nullable=False),
        sa.Column("outputs", sa.JSON(), nullable=False),
        sa.Column("summary", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("fingerprint", name=op.f("pk_step_cache")),
    )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("exports", sa.JSON(), nullable=False, server_default="{}"))


def downgrade() -> None:
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.drop_column("exports")
    op.drop_table("step_cache")
