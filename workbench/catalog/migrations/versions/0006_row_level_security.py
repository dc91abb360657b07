"""shares, and row-level security on every table with an owner (Postgres)

A user's rows are the rows whose owner is a login role the current role is a member of: the
user's own role (a person's server logs in as it), or, for the workers' service role, any user's
role it was granted (it acts as one with SET LOCAL ROLE inside each job transaction, and without
a role switch sees every user's rows for its bookkeeping). Shared datasets and models, and
published models, can be read, never changed, by the people they are shared with. FORCE: the
table owner obeys the policies too. Decision #67; docs/security.md says what this does and does
not protect.

The embedded SQLite gets the shares table only: one person, no roles.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

OWNED_TABLES = ("datasets", "images", "jobs", "models", "predictions", "reports", "shares")
# The login roles the current role may act as: its own, and those granted to it (the service's).
# Written out in each policy, not in a function, so that Postgres runs it once per query (a
# hashed subplan) rather than once per row; pg_roles because a name that is no role is nobody.
MINE = "(SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))"
# Any role the current role belongs to, groups included: a share may name a team's group role.
MY_ROLES = "(SELECT r.rolname FROM pg_roles r WHERE pg_has_role(current_user, r.oid, 'MEMBER'))"
SHARED = "(SELECT s.object_id FROM shares s WHERE s.kind = '{kind}')"  # shares are row-secured too


def upgrade() -> None:
    op.create_table(
        "shares",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), primary_key=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("object_id", sa.BigInteger(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("grantee", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.CheckConstraint("kind IN ('dataset', 'model')", name="ck_shares_kind"),
        sa.UniqueConstraint("kind", "object_id", "grantee", name="uq_shares_object_grantee"),
    )
    op.create_index("ix_shares_grantee", "shares", ["grantee", "kind"])
    if op.get_bind().dialect.name != "postgresql":
        return
    for table in OWNED_TABLES:
        op.execute(f"ALTER TABLE {table} ENABLE ROW LEVEL SECURITY")
        op.execute(f"ALTER TABLE {table} FORCE ROW LEVEL SECURITY")
        op.execute(
            f"CREATE POLICY {table}_owner ON {table} USING (owner IN {MINE}) WITH CHECK (owner IN {MINE})"
        )
    shared_datasets, shared_models = SHARED.format(kind="dataset"), SHARED.format(kind="model")
    op.execute(f"CREATE POLICY shares_grantee ON shares FOR SELECT USING (grantee IN {MY_ROLES})")
    op.execute(f"CREATE POLICY datasets_shared ON datasets FOR SELECT USING (id IN {shared_datasets})")
    op.execute(f"CREATE POLICY images_shared ON images FOR SELECT USING (dataset_id IN {shared_datasets})")
    op.execute(f"CREATE POLICY models_shared ON models FOR SELECT USING (published OR id IN {shared_models})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for policy, table in (
            ("datasets_shared", "datasets"), ("images_shared", "images"), ("models_shared", "models"),
            ("shares_grantee", "shares"),
        ):  # fmt: skip
            op.execute(f"DROP POLICY {policy} ON {table}")
        for table in OWNED_TABLES:
            op.execute(f"DROP POLICY {table}_owner ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.drop_index("ix_shares_grantee", table_name="shares")
    op.drop_table("shares")
