"""The catalog: one object holding the settings, the database and the blob store for a user."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cached_property

from sqlalchemy import Connection, Engine, select
from sqlalchemy.orm import Session, sessionmaker

from workbench.catalog import db, shares
from workbench.catalog.models import Dataset, DatasetStatus, Image, Job, Model, Prediction, Report
from workbench.config import Settings
from workbench.errors import NotFoundError
from workbench.storage import BlobStore, open_blob_store

__all__ = ["Catalog", "Dataset", "Image", "Job", "Model", "Prediction", "Report"]


class Catalog:
    """Everything a request needs to touch the catalog, built once from the settings.

    On a team server's Postgres (a login that is not a superuser) every transaction runs as the
    user's own database role, so the row-level policies, not only this code's queries, keep each
    user to their own rows (decision #67). A ``service`` catalog is a worker's own: it keeps its
    login role for the job bookkeeping and acts as each job's owner through ``acting_as``.
    """

    def __init__(self, settings: Settings, *, service: bool = False) -> None:
        self.settings = settings
        self.user = settings.user
        self.service = service

    def acting_as(self, user: str) -> Catalog:
        """This catalog as ``user`` (a job's owner): the same engine and store, the user's role."""
        acting = Catalog(self.settings.with_overrides(user=user))
        # The login is the same: asked once (on this catalog), not once per job or API request.
        acting.__dict__.update(
            engine=self.engine, store=self.store, shared_engine=True, switches_roles=self.switches_roles
        )
        return acting

    @cached_property
    def switches_roles(self) -> bool:
        return db.login_acts_for_users(self.engine)

    @property
    def role(self) -> str | None:
        """The database role this catalog's transactions run as; None: the login's own."""
        return self.user if not self.service and self.switches_roles else None

    @cached_property
    def engine(self) -> Engine:
        limits = self.settings.limits
        engine = db.make_engine(self.settings.catalog_url, statement_timeout=limits.statement_timeout_seconds)
        # The embedded SQLite belongs to this user alone, so it may upgrade itself; a shared
        # Postgres is upgraded deliberately with `workbench db upgrade`, except when it is empty.
        db.ensure_schema(engine, auto_upgrade=self.settings.is_sqlite)
        return engine

    @cached_property
    def sessions(self) -> sessionmaker[Session]:
        return db.session_factory(self.engine, role=self.role)

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A Core connection for reads, as this catalog's role (its transaction ends with it)."""
        with self.engine.connect() as connection:
            if self.role is not None:
                db.act_as(connection, self.role)
            yield connection

    @cached_property
    def store(self) -> BlobStore:
        return open_blob_store(self.settings)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with db.transaction(self.sessions) as session:
            yield session

    def find_dataset(self, session: Session, name: str) -> Dataset | None:
        """The current user's dataset called ``name`` in any status; the owner is part of the query."""
        query = select(Dataset).where(Dataset.owner == self.user, Dataset.name == name)
        return session.scalars(query).one_or_none()

    def dataset_row(self, session: Session, name: str, *, ready_only: bool = True) -> Dataset:
        """The current user's dataset called ``name``, or one shared with them as ``owner/name``
        (read-only), or NotFoundError naming the ones there are."""
        row = self.find_dataset(session, name)
        if row is None and "/" in name:
            row = shares.shared_dataset(self, session, name)
        if row is None or (ready_only and row.status != DatasetStatus.READY):
            names = self.dataset_names(session)
            hint = f"; yours are: {', '.join(names)}" if names else "; ingest one with `workbench ingest`"
            close = difflib.get_close_matches(name, names, n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise NotFoundError(f"no dataset named {name!r}{guess}{hint}")
        return row

    def dataset_names(self, session: Session) -> list[str]:
        query = (
            select(Dataset.name)
            .where(Dataset.owner == self.user, Dataset.status == DatasetStatus.READY)
            .order_by(Dataset.name)
        )
        return list(session.scalars(query))

    def newest_dataset_name(self) -> str | None:
        query = (
            select(Dataset.name)
            .where(Dataset.owner == self.user, Dataset.status == DatasetStatus.READY)
            .order_by(Dataset.id.desc())
            .limit(1)
        )
        with self.sessions() as session:
            return session.scalars(query).first()

    def dispose(self) -> None:
        if "engine" in self.__dict__ and not self.__dict__.get("shared_engine"):
            self.engine.dispose()
