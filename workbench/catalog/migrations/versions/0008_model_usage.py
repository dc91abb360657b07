"""model_usage: predictions served per model, person, channel and UTC day

Counts only (predictions, and those whose top probability was low), added to by an upsert: one
row per (model, person, channel, day), whatever the traffic. Row-level security as every owned
table (migration 0006), the row's owner being the person who asked; and the owner of the model
may read every row about it, so alice's model report counts bob's use of her published model.
Writes must name a model the writer may read: no counting against someone's private model.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# As migration 0006 says it (a migration is frozen: it imports nothing of the code that moves on).
MINE = "(SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))"
# The models policies apply inside these subqueries: "readable" is the writer's own, shared or
# published models; "of my models" filters those to the reader's own.
READABLE_MODEL = "model_id IN (SELECT m.id FROM models m)"
OF_MY_MODELS = f"model_id IN (SELECT m.id FROM models m WHERE m.owner IN {MINE})"


def upgrade() -> None:
    op.create_table(
        "model_usage",
        sa.Column(
            "model_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            sa.ForeignKey("models.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("channel", sa.String(16), nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("predictions", sa.BigInteger(), nullable=False),
        sa.Column("low_confidence", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("model_id", "owner", "channel", "day"),
        sa.CheckConstraint("channel IN ('dashboard', 'batch', 'api')", name="ck_model_usage_channel"),
    )
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE model_usage ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE model_usage FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY model_usage_owner ON model_usage USING (owner IN {MINE}) "
        f"WITH CHECK (owner IN {MINE} AND {READABLE_MODEL})"
    )
    op.execute(f"CREATE POLICY model_usage_model_owner ON model_usage FOR SELECT USING ({OF_MY_MODELS})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY model_usage_model_owner ON model_usage")
        op.execute("DROP POLICY model_usage_owner ON model_usage")
    op.drop_table("model_usage")
