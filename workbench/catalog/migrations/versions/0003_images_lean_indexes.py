"""images: drop the split and sample-key indexes, sample along the sha256 index instead

Every index costs each inserted row; at a million rows these two cost a third of a bulk COPY
(docs/benchmarks.md) and served little: a split holds 10-80% of a dataset, so the primary key
walk is as quick, and the unique (dataset_id, sha256) index already orders images by a uniform
hash, which is all the seeded sample needs. sha256 compares bytewise ("C") on Postgres, the
order SQLite's default collation gives too.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_images_dataset_split_id", table_name="images")
    op.drop_index("ix_images_dataset_sample_key", table_name="images")
    with op.batch_alter_table("images") as batch:
        batch.drop_column("sample_key")
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("images", "sha256", type_=sa.String(64, collation="C"), existing_nullable=False)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("images", "sha256", type_=sa.String(64), existing_nullable=False)
    with op.batch_alter_table("images") as batch:
        batch.add_column(sa.Column("sample_key", sa.BigInteger(), nullable=False, server_default="0"))
    op.execute("UPDATE images SET sample_key = 0")
    op.create_index("ix_images_dataset_sample_key", "images", ["dataset_id", "sample_key"])
    op.create_index("ix_images_dataset_split_id", "images", ["dataset_id", "split", "id"])
