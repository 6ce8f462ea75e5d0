"""schemas saved with dataset versions

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 07:25:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import evergreen.store.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "dataset_schemas",
        sa.Column("id", sa.String(length=80), nullable=False),
        sa.Column("dataset_version_id", sa.String(length=80), nullable=False),
        sa.Column("created_at", evergreen.store.tables.UTCDateTime(), nullable=False),
        sa.Column("origin", sa.String(length=20), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("yaml_text", sa.Text(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["dataset_version_id"],
            ["dataset_versions.id"],
            name=op.f("fk_dataset_schemas_dataset_version_id_dataset_versions"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dataset_schemas")),
    )
    op.create_index(
        op.f("ix_dataset_schemas_dataset_version_id"),
        "dataset_schemas",
        ["dataset_version_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_dataset_schemas_dataset_version_id"), table_name="dataset_schemas")
    op.drop_table("dataset_schemas")
