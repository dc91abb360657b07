"""Engines, sessions and schema upgrades (Alembic) for Postgres and the embedded SQLite."""

from __future__ import annotations

import io
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import orjson
from sqlalchemy import Connection, CursorResult, Engine, Executable, create_engine, event, inspect, text
from sqlalchemy.engine import ExceptionContext
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from workbench.catalog.retry import retrying
from workbench.errors import CatalogError

if TYPE_CHECKING:
    from alembic.config import Config

log = logging.getLogger(__name__)
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
# The newest migration. Known here so that opening a catalog need not import Alembic (a second of
# start-up for every command and worker); a test checks it against Alembic's own head.
SCHEMA_REVISION = "0008"
_SCHEMA_HEADER = """\
-- The workbench catalog schema for a fresh Postgres database.
-- Generated from the Alembic migrations by `workbench db sql` (make schema): do not edit.

"""


def make_engine(url: str, *, statement_timeout: float = 0) -> Engine:
    """An engine tuned per dialect: WAL and foreign keys on SQLite, a small pool on Postgres.

    JSON is decoded by orjson: a page or a sample of records spent most of its time in json.loads.
    ``statement_timeout`` (seconds, 0: none): Postgres cancels a statement running longer, so one
    query cannot hold a database other people share; the cancel is a one-line CatalogError.
    """
    if url.startswith("sqlite"):
        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(url, connect_args={"timeout": 30}, json_deserializer=orjson.loads)
        event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # A connection option, not a SET after connecting: it holds from the first statement, and a
    # pooled connection cannot lose it to a rollback.
    timeout = {"options": f"-c statement_timeout={round(statement_timeout * 1000)}"}
    engine = create_engine(
        url, pool_pre_ping=True, pool_size=5, max_overflow=5, json_deserializer=orjson.loads,
        connect_args=timeout if statement_timeout else {},
    )  # fmt: skip
    if statement_timeout:
        event.listen(engine, "handle_error", _statement_timeout_error(statement_timeout))
    return engine


def _statement_timeout_error(seconds: float) -> Callable[[ExceptionContext], None]:
    def one_line(context: ExceptionContext) -> None:
        error = context.original_exception
        # 57014 is query_canceled; a cancel by an administrator says "user request" and stays as it is.
        if getattr(error, "pgcode", None) == "57014" and "statement timeout" in str(error):
            raise CatalogError(
                f"a catalog query ran past the statement timeout of {seconds:g} s and was cancelled: "
                "ask for less (a narrower filter), or raise WORKBENCH_STATEMENT_TIMEOUT_SECONDS"
            ) from error

    return one_line


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")  # readers never block the writer
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")  # durable at checkpoints, safe with WAL
    cursor.close()


def alembic_config(engine: Engine) -> Config:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def head_revision() -> str:
    """The newest migration according to Alembic itself."""
    from alembic.script import ScriptDirectory

    head = ScriptDirectory(str(MIGRATIONS_DIR)).get_current_head()
    assert head is not None, "no migrations found"
    return head


def current_revision(engine: Engine) -> str | None:
    """The database's schema revision; None for an empty database."""
    try:
        return _revision(engine)
    except OperationalError as exc:
        raise CatalogError(
            f"cannot reach the catalog database at {engine.url.render_as_string()}: "
            f"{str(exc.orig).strip().splitlines()[0]}. Check WORKBENCH_DATABASE_URL and that the "
            "server is running."
        ) from exc


@retrying
def _revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        if not inspect(connection).has_table("alembic_version"):
            return None
        return connection.execute(text("SELECT version_num FROM alembic_version")).scalar()


def upgrade(engine: Engine) -> tuple[str | None, str]:
    """Bring the schema to the newest migration; returns (before, after) revisions."""
    from alembic import command

    before = current_revision(engine)
    sqlite = engine.dialect.name == "sqlite"
    with engine.connect() as connection:
        # On SQLite a batch migration rebuilds a table (copy, drop, rename); with foreign keys on,
        # the drop would cascade into every row that references it. The pragma only takes effect
        # outside a transaction, and the pooled connection gets it back afterwards.
        if sqlite:
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        try:
            config = alembic_config(engine)
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
            connection.commit()
        finally:
            if sqlite:
                connection.rollback()
                connection.exec_driver_sql("PRAGMA foreign_keys=ON")
                connection.commit()
    return before, head_revision()


def postgres_schema_sql() -> str:
    """The whole Postgres schema as SQL (Alembic offline mode), for a fresh database's init script."""
    from alembic import command
    from alembic.config import Config

    buffer = io.StringIO()
    config = Config(output_buffer=buffer)
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("sqlalchemy.url", "postgresql+psycopg2://")
    command.upgrade(config, "head", sql=True)
    return _SCHEMA_HEADER + buffer.getvalue()


def ensure_schema(engine: Engine, auto_upgrade: bool) -> None:
    """Create a fresh schema, or refuse an old one unless we may upgrade it ourselves."""
    current = current_revision(engine)
    if current == SCHEMA_REVISION:
        return
    if current is None or auto_upgrade:
        log.info("upgrading catalog schema from %s to %s", current, SCHEMA_REVISION)
        upgrade(engine)
        return
    raise CatalogError(
        f"the catalog schema is at revision {current}, this workbench needs {SCHEMA_REVISION}: "
        "run `workbench db upgrade`"
    )


def login_acts_for_users(engine: Engine) -> bool:
    """Whether a catalog on ``engine`` must switch to each user's role: a Postgres login that
    is not a superuser (a team server's service role). A superuser passes every policy anyway
    (one person's Postgres, the tests' admin), and SQLite has no roles."""
    if engine.dialect.name != "postgresql":
        return False
    with engine.connect() as connection:
        superuser = connection.execute(text("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"))
        return not superuser.scalar()


def rows_changed(session: Session, statement: Executable) -> int:
    """Run an UPDATE or DELETE; returns how many rows it changed (a claim won, a write fenced)."""
    return cast(CursorResult[Any], session.execute(statement)).rowcount


def session_factory(engine: Engine, *, role: str | None = None) -> sessionmaker[Session]:
    """Sessions on ``engine``; with ``role``, every transaction runs as that database role."""
    factory = sessionmaker(engine, expire_on_commit=False)
    if role is not None:
        event.listen(factory, "after_begin", lambda _session, _tx, connection: act_as(connection, role))
    return factory


# Names Postgres reads as something else when given as a role to SET: "none" switches back to
# the login role (for a worker, its service role, which sees every user's rows).
RESERVED_ROLES = frozenset({"none", "public", "current_user", "session_user", "current_role"})


def act_as(connection: Connection, role: str) -> None:
    """Run the rest of this transaction as ``role`` (SET LOCAL ROLE): the policies see that user.
    Transaction-local on purpose: a session-level SET would stay on the pooled connection and
    leak into the next user's transaction."""
    if role.lower() in RESERVED_ROLES or role.startswith("pg_"):
        raise CatalogError(f"{role!r} cannot be a user name on a shared catalog: it names a Postgres role")
    try:
        connection.execute(text("SELECT set_config('role', :role, true)"), {"role": role})
    except DBAPIError as exc:
        raise CatalogError(
            f"the catalog's database login may not act as user {role!r}: the user has no database "
            "role, or the login is not a worker's service role (`workbench users add` makes both)"
        ) from exc


@contextmanager
def transaction(factory: sessionmaker[Session]) -> Iterator[Session]:
    """A session that commits on success and rolls back on any error."""
    with factory() as session, session.begin():
        yield session
