"""Fencing: every write a job makes proves, in the same transaction, that the job is still this
delivery's to run.

A worker that stalls (stopped, swapped out, cut off) loses its job to the reaper, and another
worker runs it again. When the first one wakes, whatever it writes could undo or overwrite the
second run's work. So a job's catalog is a ``FencedCatalog``: each transaction first updates the
jobs row where its delivery number is still the one this run claimed (the fencing token) and the
job still runs; no such row, no write, and ``JobLost`` stops the job. The update's row lock also
makes the reaper wait until the write commits, so a takeover can never fall between the check
and the write.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import update
from sqlalchemy.orm import Session

from workbench.catalog import Catalog
from workbench.catalog.db import rows_changed
from workbench.catalog.models import Job as JobRow
from workbench.jobs.records import RUNNING, JobLost, utcnow


class FencedCatalog(Catalog):
    """The catalog as one delivery of one job sees it: the same engine and store, fenced writes."""

    def __init__(self, catalog: Catalog, job_id: str, delivery: int) -> None:
        super().__init__(catalog.settings)
        # Share the job runner's engine, session factory and store (cached properties).
        self.__dict__.update(
            engine=catalog.engine, sessions=catalog.sessions, store=catalog.store,
            switches_roles=catalog.switches_roles,
        )  # fmt: skip
        self.job_id, self.delivery = job_id, delivery

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        with super().transaction() as session:
            self._prove(session)
            yield session

    def check(self) -> None:
        """Prove the job is still ours, in a transaction of its own (before writing a file)."""
        with super().transaction() as session:
            self._prove(session)

    def _prove(self, session: Session) -> None:
        still_ours = rows_changed(
            session,
            update(JobRow)
            .where(JobRow.id == self.job_id, JobRow.deliveries == self.delivery, JobRow.state == RUNNING)
            .values(heartbeat_at=utcnow()),
        )
        if not still_ours:
            raise JobLost(f"lost to another worker: delivery {self.delivery} of job {self.job_id} is over")

    def dispose(self) -> None:
        """The engine is the runner's: it outlives this job."""
