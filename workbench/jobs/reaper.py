"""Find jobs whose worker vanished (no heartbeat for a while) and queue them again.

Every worker runs this now and then; an atomic update makes sure one of them wins per job. The
run that picks the job up again counts a delivery, and fails it after too many.
"""

from __future__ import annotations

import datetime as dt
import logging

from sqlalchemy import select, update

from workbench.catalog import Catalog
from workbench.catalog.db import rows_changed
from workbench.catalog.models import Job as JobRow
from workbench.jobs.records import QUEUED, RUNNING, utcnow

log = logging.getLogger(__name__)


def requeue_stale_jobs(catalog: Catalog) -> list[str]:
    """Running jobs silent for longer than the stale time go back to ``queued``; returns their ids
    (the caller publishes them again when a broker is in use)."""
    cutoff = utcnow() - dt.timedelta(seconds=catalog.settings.jobs.stale_seconds)
    requeued = []
    with catalog.sessions() as session:
        stale = session.execute(
            select(JobRow.id, JobRow.worker).where(JobRow.state == RUNNING, JobRow.heartbeat_at < cutoff)
        ).all()
    for job_id, worker in stale:
        with catalog.transaction() as session:
            won = rows_changed(
                session,
                update(JobRow)
                .where(JobRow.id == job_id, JobRow.state == RUNNING, JobRow.heartbeat_at < cutoff)
                .values(state=QUEUED, worker=None, message=f"its worker {worker} was lost; queued again"),
            )
        if won:
            log.warning("job %s: worker %s silent since before %s, queued again", job_id, worker, cutoff)
            requeued.append(job_id)
    return requeued
