"""jobs.parent_id, chunks, chunks_done, context: a big job fans out into chunk jobs

A parent job plans its work into chunk jobs (rows of this table, ``parent_id`` pointing at it)
that any idle worker of the queue claims; ``chunks`` and ``chunks_done`` count them on the parent,
``context`` keeps what the parent's plan worked out for the chunks and the fan-in (decision #61).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.add_column(sa.Column("parent_id", sa.String(64), nullable=True))
        batch.add_column(sa.Column("chunks", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("chunks_done", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("context", _JSON, nullable=True))
        batch.create_foreign_key("fk_jobs_parent_id", "jobs", ["parent_id"], ["id"], ondelete="CASCADE")
        batch.create_index("ix_jobs_parent_id", ["parent_id"])


def downgrade() -> None:
    with op.batch_alter_table("jobs") as batch:
        batch.drop_index("ix_jobs_parent_id")
        batch.drop_constraint("fk_jobs_parent_id", type_="foreignkey")
        batch.drop_column("context")
        batch.drop_column("chunks_done")
        batch.drop_column("chunks")
        batch.drop_column("parent_id")
