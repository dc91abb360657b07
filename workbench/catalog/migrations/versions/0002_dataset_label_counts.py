"""datasets.label_counts: images per label, kept at ingest so a whole dataset's labels are O(1)

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
_BACKFILL = {
    "postgresql": """
        UPDATE datasets SET label_counts = COALESCE((
            SELECT jsonb_object_agg(label, n) FROM (
                SELECT dataset_id, label, count(*) AS n FROM images GROUP BY dataset_id, label
            ) AS counts WHERE counts.dataset_id = datasets.id), '{}'::jsonb)
    """,
    "sqlite": """
        UPDATE datasets SET label_counts = COALESCE((
            SELECT json_group_object(label, n) FROM (
                SELECT dataset_id, label, count(*) AS n FROM images GROUP BY dataset_id, label
            ) AS counts WHERE counts.dataset_id = datasets.id), '{}')
    """,
}


def upgrade() -> None:
    # A plain ADD COLUMN (SQLite supports it with a constant default): no batch table rebuild.
    op.add_column(
        "datasets", sa.Column("label_counts", _JSON, nullable=False, server_default=sa.text("'{}'"))
    )
    op.execute(_BACKFILL[op.get_bind().dialect.name])


def downgrade() -> None:
    with op.batch_alter_table("datasets") as batch:
        batch.drop_column("label_counts")
