"""api_tokens: personal tokens for the REST API, stored hashed, scoped, expiring

A token is ``wb_<id>_<secret>``; the row keeps its id and the SHA-256 of its secret, never the
secret. Row-level security as every owned table (migration 0006): a person sees, makes and
revokes only their own; the API's service login reads any to authenticate a request.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-05
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# As migration 0006 says it (a migration is frozen: it imports nothing of the code that moves on).
MINE = "(SELECT r.rolname FROM pg_roles r WHERE r.rolcanlogin AND pg_has_role(current_user, r.oid, 'MEMBER'))"


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(16), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("secret_sha256", sa.String(64), nullable=False),
        sa.Column("scope", sa.String(8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("scope IN ('read', 'write')", name="ck_api_tokens_scope"),
    )
    op.create_index("ix_api_tokens_owner", "api_tokens", ["owner"])
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("ALTER TABLE api_tokens ENABLE ROW LEVEL SECURITY")
    op.execute("ALTER TABLE api_tokens FORCE ROW LEVEL SECURITY")
    op.execute(
        f"CREATE POLICY api_tokens_owner ON api_tokens USING (owner IN {MINE}) WITH CHECK (owner IN {MINE})"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP POLICY api_tokens_owner ON api_tokens")
    op.drop_index("ix_api_tokens_owner", table_name="api_tokens")
    op.drop_table("api_tokens")
