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
# What else a write must satisfy: an image goes only into one's own dataset (else one could slip
# images into a colleague's, which FOREIGN KEY checks would not stop: they skip the policies).
WRITE_CHECKS = {"images": f"dataset_id IN (SELECT d.id FROM datasets d WHERE d.owner IN {MINE})"}
# Read-only access. A share counts only when its owner owns the object: anyone may write a share
# row of their own naming any id, and it opens nothing. (A write check on shares instead would
# read datasets, whose policy reads shares: Postgres refuses that as recursion.) The images of
# every dataset one may read; published models.
SHARED_READS = {
    "datasets_shared ON datasets": "id IN (SELECT s.object_id FROM shares s "
    "WHERE s.kind = 'dataset' AND s.owner = datasets.owner)",
    "images_shared ON images": "dataset_id IN (SELECT d.id FROM datasets d)",
    "models_shared ON models": "published OR id IN (SELECT s.object_id FROM shares s "
    "WHERE s.kind = 'model' AND s.owner = models.owner)",
    "shares_grantee ON shares": f"grantee IN {MY_ROLES}",
}


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
        check = f"owner IN {MINE}" + (f" AND ({WRITE_CHECKS[table]})" if table in WRITE_CHECKS else "")
        op.execute(f"CREATE POLICY {table}_owner ON {table} USING (owner IN {MINE}) WITH CHECK ({check})")
    for policy, condition in SHARED_READS.items():
        op.execute(f"CREATE POLICY {policy} FOR SELECT USING ({condition})")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for policy in SHARED_READS:
            op.execute(f"DROP POLICY {policy}")
        for table in OWNED_TABLES:
            op.execute(f"DROP POLICY {table}_owner ON {table}")
            op.execute(f"ALTER TABLE {table} NO FORCE ROW LEVEL SECURITY")
            op.execute(f"ALTER TABLE {table} DISABLE ROW LEVEL SECURITY")
    op.drop_index("ix_shares_grantee", table_name="shares")
    op.drop_table("shares")
