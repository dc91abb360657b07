"""A team server's database for a test: a fresh catalog on the real Postgres with the roles
`workbench users add` makes (a group, the workers' service role, a login role per user), all
named for this test and dropped afterwards, whatever happens (roles outlive databases)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests.conftest import POSTGRES_ADMIN_URL, throwaway_postgres_database
from workbench.catalog import Catalog, db, roles
from workbench.config import Settings


@dataclass(frozen=True)
class Team:
    admin_url: str  # the database, as its owner (the tests' superuser)
    prefix: str
    users: tuple[str, ...]

    @property
    def group(self) -> str:
        return f"{self.prefix}_users"

    @property
    def service(self) -> str:
        return f"{self.prefix}_service"

    def user(self, name: str) -> str:
        """The login role (and catalog user name) of ``name``, e.g. 'alice'."""
        return f"{self.prefix}_{name}"

    def url(self, role: str) -> str:
        """The database as ``role`` logs in (the loopback trusts; a deployment uses passwords)."""
        return (
            make_url(self.admin_url).set(username=role, password=None).render_as_string(hide_password=False)
        )

    def settings(self, name: str, data_dir: Path) -> Settings:
        """What a person's server gets from the hub: their own login, their own name."""
        return Settings(data_dir=data_dir, database_url=self.url(self.user(name)), user=self.user(name))

    def service_settings(self, data_dir: Path, **overrides: object) -> Settings:
        """A worker's: the service login; its own user name is nobody's."""
        return Settings(data_dir=data_dir, database_url=self.url(self.service), user="worker", **overrides)  # type: ignore[arg-type]

    def catalog(self, name: str, data_dir: Path) -> Catalog:
        return Catalog(self.settings(name, data_dir))


@contextmanager
def team_database(users: tuple[str, ...] = ("alice", "bob")) -> Iterator[Team]:
    prefix = f"wbt{uuid.uuid4().hex[:8]}"
    team: Team | None = None
    try:
        with throwaway_postgres_database() as admin_url:
            team = Team(admin_url, prefix, users)
            engine = db.make_engine(admin_url)
            try:
                db.ensure_schema(engine, auto_upgrade=False)  # empty: made here, by its owner
                roles.prepare(engine, group=team.group, service=team.service, service_password="service")
                for name in users:
                    roles.add_user(
                        engine, team.user(name), f"{name}-password", group=team.group, service=team.service
                    )
            finally:
                engine.dispose()
            yield team
    finally:
        _drop_roles(prefix)


def _drop_roles(prefix: str) -> None:
    """Every role of this prefix; the database that held their privileges is gone already."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            names = connection.execute(
                text("SELECT rolname FROM pg_roles WHERE rolname LIKE :p"), {"p": f"{prefix}\\_%"}
            ).scalars()
            for name in list(names):
                connection.execute(text(f'DROP ROLE IF EXISTS "{name}"'))
    finally:
        admin.dispose()
