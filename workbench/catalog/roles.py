"""Database roles of a team server: a group with the table privileges, a service role the workers
log in as, and a login role per user (decision #67).

Run by an administrator's login (CREATEROLE, or a superuser): the hub when it approves a person,
``workbench users add`` by hand. The row-level policies (migration 0006) name no role: they
compare each row's owner with the roles the current role belongs to, so these names are free.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from workbench.catalog.db import RESERVED_ROLES
from workbench.errors import ConfigError

GROUP_ROLE = "workbench_users"
SERVICE_ROLE = "workbench_service"
# A user name as a login role: what JupyterHub's usernames are (lower case, digits, . _ -), short
# enough for Postgres (63 bytes), never a name Postgres reads as something else.
USER_NAME = re.compile(r"[a-z][a-z0-9._-]{0,62}")
OWNED_TABLES = (
    "datasets", "images", "jobs", "models", "predictions", "reports", "shares", "api_tokens", "model_usage",
)  # fmt: skip


def check_user_name(name: str) -> str:
    if not USER_NAME.fullmatch(name) or name in RESERVED_ROLES or name.startswith("pg_"):
        raise ConfigError(
            f"{name!r} cannot be a user on a shared catalog: use 1-63 lower-case letters, digits, '.', "
            "'_' or '-', starting with a letter (and not a name Postgres keeps for itself)"
        )
    return name


def prepare(
    engine: Engine, *, group: str = GROUP_ROLE, service: str = SERVICE_ROLE, service_password: str
) -> None:
    """Make the group and the service role (once) and give the group what a user may do: read
    and write rows (the policies decide which), never TRUNCATE (it skips the policies), never
    change the schema or its version."""
    with engine.begin() as connection:
        _create_role(connection, group, login=False)
        _create_role(connection, service, login=True, password=service_password)
        q = _quoter(connection)
        connection.exec_driver_sql(f"GRANT USAGE ON SCHEMA public TO {q(group)}")
        tables = ", ".join(OWNED_TABLES)
        connection.exec_driver_sql(f"GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO {q(group)}")
        connection.exec_driver_sql(f"GRANT SELECT ON alembic_version TO {q(group)}")
        connection.exec_driver_sql(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {q(group)}")
        connection.exec_driver_sql(f"GRANT {q(group)} TO {q(service)}")


def add_user(
    engine: Engine, name: str, password: str, *, group: str = GROUP_ROLE, service: str = SERVICE_ROLE
) -> None:
    """A login role for ``name`` in ``group``, which the service role may act as."""
    check_user_name(name)
    with engine.begin() as connection:
        _create_role(connection, name, login=True, password=password)
        q = _quoter(connection)
        connection.exec_driver_sql(f"GRANT {q(group)} TO {q(name)}")
        connection.exec_driver_sql(f"GRANT {q(name)} TO {q(service)}")


def remove_user(engine: Engine, name: str) -> None:
    """Drop ``name``'s login role; the rows it owned stay, readable by nobody but the service."""
    check_user_name(name)
    with engine.begin() as connection:
        connection.exec_driver_sql(f"DROP ROLE IF EXISTS {_quoter(connection)(name)}")


def _create_role(connection: Connection, name: str, *, login: bool, password: str | None = None) -> None:
    exists = connection.execute(text("SELECT 1 FROM pg_roles WHERE rolname = :n"), {"n": name}).scalar()
    q = _quoter(connection)
    if exists:
        if password is not None:  # psycopg2 fills %s in on this side: PASSWORD takes no parameter
            connection.exec_driver_sql(f"ALTER ROLE {q(name)} PASSWORD %s", (password,))
        return
    options = "LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOBYPASSRLS" if login else "NOLOGIN"
    if password is not None:
        connection.exec_driver_sql(f"CREATE ROLE {q(name)} {options} PASSWORD %s", (password,))
    else:
        connection.exec_driver_sql(f"CREATE ROLE {q(name)} {options}")


def _quoter(connection: Connection) -> Callable[[str], str]:
    return connection.dialect.identifier_preparer.quote_identifier
