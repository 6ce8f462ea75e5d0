"""governance: model owners and approvers, version description/owner/validation, aliases,
approvals

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27 07:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evergreen.store.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("owner", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("approvers", sa.JSON(), nullable=False, server_default="[]"))
        batch_op.add_column(
            sa.Column("required_approvals", sa.Integer(), nullable=False, server_default="0")
        )
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=False, server_default=""))
        batch_op.add_column(
            sa.Column("owner", sa.String(length=128), nullable=False, server_default="")
        )
        batch_op.add_column(sa.Column("validation", sa.JSON(), nullable=False, server_default="{}"))
        batch_op.add_column(
            sa.Column("runtime_metrics", sa.JSON(), nullable=False, server_default="{}")
        )
    op.create_table(
        "model_aliases",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("model_id", sa.String(length=80), nullable=False),
        sa.Column("alias", sa.String(length=64), nullable=False),
        sa.Column("version_id", sa.String(length=80), nullable=False),
        sa.Column("set_at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("set_by", sa.String(length=128), nullable=False),
        sa.ForeignKeyConstraint(
            ["model_id"], ["models.id"], name=op.f("fk_model_aliases_model_id_models")
        ),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_model_aliases_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_aliases")),
        sa.UniqueConstraint("model_id", "alias", name="uq_model_aliases_model_alias"),
    )
    op.create_index(op.f("ix_model_aliases_model_id"), "model_aliases", ["model_id"], unique=False)
    op.create_table(
        "approvals",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("version_id", sa.String(length=80), nullable=False),
        sa.Column("approver", sa.String(length=128), nullable=False),
        sa.Column("decision", sa.String(length=16), nullable=False),
        sa.Column("at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["version_id"],
            ["model_versions.id"],
            name=op.f("fk_approvals_version_id_model_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
    )
    op.create_index(op.f("ix_approvals_version_id"), "approvals", ["version_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_approvals_version_id"), table_name="approvals")
    op.drop_table("approvals")
    op.drop_index(op.f("ix_model_aliases_model_id"), table_name="model_aliases")
    op.drop_table("model_aliases")
    with op.batch_alter_table("model_versions", schema=None) as batch_op:
        for column in ("runtime_metrics", "validation", "owner", "description"):
            batch_op.drop_column(column)
    with op.batch_alter_table("models", schema=None) as batch_op:
        for column in ("required_approvals", "approvers", "owner"):
            batch_op.drop_column(column)
