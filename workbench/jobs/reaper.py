"""Find jobs whose worker vanished (no heartbeat for a while) and queue them again.

Every worker runs this now and then; an atomic update makes sure one of them wins per job. The
run that picks the job up again counts a delivery, and fails it after too many. A parent whose
chunks run (``chunks`` set, ``jobs.fanout``) beats no heart of its own: its chunks are reaped.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from sqlalchemy import select, update

from workbench.catalog import Catalog
from workbench.catalog.db import rows_changed
from workbench.catalog.models import Job as JobRow
from workbench.jobs.records import QUEUED, RUNNING, utcnow

Send = Callable[[str, str], None]  # (job id, kind): publish the job's task again

log = logging.getLogger(__name__)


def requeue_stale_jobs(catalog: Catalog, send: Send | None = None) -> list[str]:
    """Running jobs silent for longer than the stale time go back to ``queued``; returns their ids.

    With a broker, ``send`` publishes each one again *before* its row commits: if the broker is
    down, the send fails, the transaction rolls back and the job stays stale for the next round,
    instead of being queued in the catalog with no message anywhere to run it. A worker that gets
    the message before the commit waits on the row's lock, then finds it queued.
    """
    cutoff = utcnow() - dt.timedelta(seconds=catalog.settings.jobs.stale_seconds)
    requeued = []
    with catalog.sessions() as session:
        stale = session.execute(
            select(JobRow.id, JobRow.kind, JobRow.worker).where(
                JobRow.state == RUNNING, JobRow.heartbeat_at < cutoff, JobRow.chunks == 0
            )
        ).all()
    for job_id, kind, worker in stale:
        try:
            with catalog.transaction() as session:
                won = rows_changed(
                    session,
                    update(JobRow)
                    .where(JobRow.id == job_id, JobRow.state == RUNNING, JobRow.heartbeat_at < cutoff)
                    .values(state=QUEUED, worker=None, message=f"its worker {worker} was lost; queued again"),
                )
                if won and send is not None:
                    send(job_id, kind)
        except Exception as exc:  # the broker or the database is away: the next round tries again
            log.warning("job %s is stale but could not be queued again yet: %s", job_id, exc)
            continue
        if won:
            log.warning("job %s: worker %s silent since before %s, queued again", job_id, worker, cutoff)
            requeued.append(job_id)
    return requeued
