"""Running one job on a worker: claim its row, run its function, keep it alive, record how it ended.

The same code runs under a Celery worker and under the embedded local worker. A job function gets
a JobContext: its parsed parameters, progress, and ``ctx.check_abort()``, which raises at a safe
point once an abort was requested so the function stops cleanly.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any, Generic, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import SQLAlchemyError

from workbench.catalog import Catalog
from workbench.catalog.db import rows_changed
from workbench.catalog.models import Job as JobRow
from workbench.catalog.retry import describe, retrying
from workbench.config import Settings
from workbench.disk import disk_full_error, hold_reserve, is_disk_full, release_reserve
from workbench.errors import OutOfMemoryError, WorkbenchError
from workbench.jobs import chain, fanout, metrics
from workbench.jobs.fence import FencedCatalog
from workbench.jobs.kind import JobKind, JobParams
from workbench.jobs.lost import lost_too_often
from workbench.jobs.progress import ProgressChannel
from workbench.jobs.records import ABORTED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobAborted, JobLost, utcnow

log = logging.getLogger(__name__)
LIVE_INTERVAL = 0.2  # at most five live progress writes a second to Redis
ROW_INTERVAL = 2.0  # and one every two seconds to the jobs row, besides milestones


P = TypeVar("P", bound=JobParams)


class JobContext(Generic[P]):
    """What a job function sees: its parsed parameters, the catalog as the job's owner (fenced:
    every write transaction proves the job is still this run's), progress and abort."""

    def __init__(
        self, catalog: Catalog, row: JobRow, params: P, worker: str, channel: ProgressChannel
    ) -> None:
        # Every read and write of the job is its submitter's, whoever this worker runs as.
        self.catalog = FencedCatalog(catalog.acting_as(row.owner), row.id, row.deliveries)
        self.settings = self.catalog.settings
        self._runner_catalog = catalog  # the runner's own writes (progress, heartbeat) are guarded apart
        self.job_id, self.kind, self.params = row.id, row.kind, params
        self.worker = worker
        self.deliveries = row.deliveries
        self._channel = channel
        self._abort = threading.Event()
        self._lost = False
        self._metrics: dict[str, Any] = dict(row.metrics or {})
        self._fraction, self._message = row.progress, row.message
        self._live_at = self._row_at = 0.0
        self._lock = threading.Lock()

    # -- for job functions -------------------------------------------------------------------
    def progress(
        self,
        fraction: float,
        message: str = "",
        metrics: dict[str, Any] | None = None,
        *,
        milestone: bool = False,
    ) -> None:
        """Report progress (0..1); cheap enough to call per batch. ``milestone`` also writes the
        jobs row at once (an epoch, a chunk); otherwise the row is written every few seconds."""
        with self._lock:
            self._fraction = max(0.0, min(1.0, fraction))
            self._message = message or self._message
            if metrics:
                self._metrics.update(json_safe(metrics))
            now = time.monotonic()
            live = now - self._live_at >= LIVE_INTERVAL
            row = milestone or now - self._row_at >= ROW_INTERVAL
            if live or row:
                self._live_at = now
                self._channel.publish(self.job_id, self._snapshot())
            if row:
                self._row_at = now
                self._write_row(progress=self._fraction, message=self._message, metrics=self._metrics)

    def note(self, message: str, metrics: dict[str, Any]) -> None:
        """Write a message and metrics on the row at once, the progress as it is (a halving)."""
        self.progress(self._fraction, message, metrics, milestone=True)

    def record_point(self, series: str, point: dict[str, Any]) -> None:
        """Append a point to a curve kept in the job's metrics (e.g. loss per epoch): polling a
        bar misses intermediate values, the curve must not."""
        with self._lock:
            self._metrics.setdefault("curves", {}).setdefault(series, []).append(json_safe(point))
            self._write_row(metrics=self._metrics)

    @property
    def recorded(self) -> dict[str, Any]:
        """The metrics on the job's row, an earlier run's included (how it was lost, its batch)."""
        return dict(self._metrics)

    def should_abort(self) -> bool:
        return self._abort.is_set()

    @property
    def lost(self) -> bool:
        """Whether another worker has taken the job over (it was reaped while this one stalled):
        then what this run wrote is that run's too, and must not be undone."""
        return self._lost

    def check_abort(self) -> None:
        if self._abort.is_set():
            raise JobLost("lost to another worker") if self._lost else JobAborted("aborted on request")

    def fence(self) -> None:
        """Raise JobLost unless the job is still this run's: before a write outside the catalog
        (a checkpoint, a file another run may be writing too)."""
        self.catalog.check()

    # -- for the runner ------------------------------------------------------------------------
    def _snapshot(self) -> dict[str, Any]:
        return {
            "state": RUNNING,
            "progress": self._fraction,
            "message": self._message,
            "metrics": self._metrics,
            "at": time.time(),
        }

    @retrying
    def _write_row(self, **values: Any) -> None:
        """Write our row; the abort flag comes back with it, so an abort is seen at the next
        row write (a milestone, or a few seconds), not only at the next heartbeat."""
        with self._runner_catalog.transaction() as session:
            flags = session.execute(
                update(JobRow)
                .where(JobRow.id == self.job_id, JobRow.worker == self.worker)
                .values(**values)
                .returning(JobRow.abort_requested)
            ).all()
        if not flags:
            self._lost = True
        if not flags or flags[0][0]:
            self._abort.set()

    def _heartbeat(self) -> None:
        """Touch the row; learn of an abort request, or that the job is no longer ours."""
        with self._runner_catalog.transaction() as session:
            row = session.execute(
                select(JobRow.state, JobRow.worker, JobRow.abort_requested).where(JobRow.id == self.job_id)
            ).one()
            if row.state != RUNNING or row.worker != self.worker:
                self._lost = True  # reaped while we were stalled; another worker may run it now
                self._abort.set()
                return
            session.execute(update(JobRow).where(JobRow.id == self.job_id).values(heartbeat_at=utcnow()))
        if row.abort_requested:
            self._abort.set()


def json_safe(value: Any) -> Any:
    """``value`` with every non-finite float (a diverged loss) as None: JSON has no NaN, and a
    row holding one could not be read back."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def run_job(catalog: Catalog, job_id: str, worker: str, kinds: Mapping[str, JobKind[Any]]) -> str | None:
    """Run job ``job_id`` here if it is still queued; returns its final state (``running`` for a
    parent whose chunks now run), or None when it was not ours to run (finished, running
    elsewhere, or unknown)."""
    row = _claim(catalog, job_id, worker)
    if row is None:
        return None
    began = time.monotonic()
    metrics.job_started(row.kind, _queue_wait(row))
    state, reason = _run_claimed(catalog, row, worker, kinds)
    metrics.job_ended(row.kind, state or "lost", time.monotonic() - began)
    if state in (FAILED, ABORTED):  # a fan-out family ends with any of its jobs
        if row.parent_id is not None:
            fanout.chunk_ended(catalog, row, state, reason)
        elif (kind := kinds.get(row.kind)) is not None and kind.fanout is not None:
            fanout.end_family(catalog, row.id)
    return state


def _queue_wait(row: JobRow) -> float | None:
    """Seconds from submit to this start, for a first start only (a retry's wait includes a run)."""
    if row.deliveries != 1 or row.started_at is None:
        return None
    started, created = (t if t.tzinfo else t.replace(tzinfo=dt.UTC) for t in (row.started_at, row.created_at))
    return (started - created).total_seconds()  # SQLite gives both back without a zone


def _run_claimed(
    catalog: Catalog, row: JobRow, worker: str, kinds: Mapping[str, JobKind[Any]]
) -> tuple[str | None, str]:
    """Run the claimed job; returns how it ended (None: another run took it over) and why."""
    job_id = row.id
    settings = catalog.settings
    if row.abort_requested:  # aborted while queued: a revoke sent then would have been lost
        return _finish(catalog, job_id, worker, ABORTED, message="aborted before it started")
    if row.deliveries > settings.jobs.max_deliveries:  # checked before it runs: never a loop
        metrics.job_failed(row.kind, "worker_lost")
        return _finish(catalog, job_id, worker, FAILED, error=lost_too_often(row.deliveries, row.metrics))
    kind = kinds.get(row.kind)
    if kind is None:
        return _finish(catalog, job_id, worker, FAILED, error=f"this worker cannot run {row.kind!r} jobs")
    try:  # checked again here: the catalog may have changed since it was queued
        params = retrying(kind.parse)(row.params or {}, catalog.acting_as(row.owner), job_id)
    except WorkbenchError as exc:
        metrics.job_failed(row.kind, "refused")
        return _finish(catalog, job_id, worker, FAILED, error=str(exc))
    channel = ProgressChannel(settings.result_backend)
    ctx = JobContext(catalog, row, params, worker, channel)
    beating = threading.Event()
    heart = threading.Thread(target=_beat, args=(ctx, beating), name=f"heartbeat-{job_id}", daemon=True)
    heart.start()
    hold_reserve(settings)  # room to clean up and record the failure, should the disk fill
    try:
        result = kind.run(ctx) if kind.fanout is None else fanout.start(kind, ctx)
    except fanout.FannedOut:
        return RUNNING, ""  # its chunks run it now, and the last one finishes it
    except JobAborted as exc:
        return _finish(catalog, job_id, worker, ABORTED, message=str(exc), metrics=ctx._metrics)
    except Exception as exc:
        return _finish(
            catalog, job_id, worker, FAILED, error=_failure(settings, row.kind, exc), metrics=ctx._metrics
        )
    finally:
        beating.set()
        heart.join()
        channel.close()
    then = chain.prepare(ctx.catalog, row)  # a chain's next step, checked as its owner
    return _finish(
        catalog, job_id, worker, SUCCEEDED, then=then, result=json_safe(result or {}),
        metrics=ctx._metrics, progress=1.0, message=ctx._message,
    )  # fmt: skip


def _failure(settings: Settings, kind: str, error: Exception) -> str:
    """The one line a failed job records: what a person can act on, never a traceback or SQL."""
    if is_disk_full(error):
        metrics.job_failed(kind, "disk_full")
        release_reserve(settings)  # the failure must be recorded, on the same disk for SQLite
        return str(disk_full_error(settings, error))
    if isinstance(error, WorkbenchError):
        metrics.job_failed(kind, "out_of_memory" if isinstance(error, OutOfMemoryError) else "refused")
        return str(error)
    log.error("a %s job failed:\n%s", kind, "".join(traceback.format_exception(error)))
    if isinstance(error, SQLAlchemyError):  # not transient: those were tried again
        metrics.job_failed(kind, "catalog")
        return describe(error)
    metrics.job_failed(kind, "error")
    return f"{type(error).__name__}: {error}"


def _beat(ctx: JobContext, stop: threading.Event) -> None:
    while not stop.wait(ctx.settings.jobs.heartbeat_seconds):
        try:
            ctx._heartbeat()
        except Exception as exc:
            log.warning("heartbeat of job %s failed: %s", ctx.job_id, exc)


@retrying
def _claim(catalog: Catalog, job_id: str, worker: str) -> JobRow | None:
    """Atomically move the job from queued to running on this worker."""
    now = utcnow()
    with catalog.transaction() as session:
        # Wait for the row's lock first: the reaper sends a job's message before its row commits
        # as queued, and an UPDATE ... WHERE state = 'queued' alone skips a row whose visible
        # version is still 'running' without waiting (Postgres), losing that message. Seen
        # with fan-out, where an idle worker takes a requeued chunk within milliseconds.
        session.execute(select(JobRow.id).where(JobRow.id == job_id).with_for_update())
        claimed = rows_changed(
            session,
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state == QUEUED)
            .values(
                state=RUNNING,
                worker=worker,
                deliveries=JobRow.deliveries + 1,
                heartbeat_at=now,
                started_at=now,
                error=None,
            ),
        )
        if not claimed:
            return None
        row = session.get_one(JobRow, job_id)
        session.expunge(row)
        return row


@retrying
def _finish(
    catalog: Catalog,
    job_id: str,
    worker: str,
    state: str,
    *,
    then: chain.NextStep | None = None,
    **values: Any,
) -> tuple[str | None, str]:
    """Record the end, unless the job was taken from us meanwhile (then the other run decides);
    returns the state recorded (None: not ours any more) and its error or message. ``then``: the
    next step of its chain, started in the same transaction as this success."""
    with catalog.transaction() as session:
        done = rows_changed(
            session,
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.worker == worker, JobRow.state == RUNNING)
            .values(state=state, finished_at=utcnow(), **values),
        )
        started = bool(done) and then is not None and chain.start(session, then)
    if started and then is not None:
        chain.announce(catalog.settings, then)
    ProgressChannel(catalog.settings.result_backend).publish(job_id, {"state": state, "at": time.time()})
    return (state if done else None), values.get("error") or values.get("message") or ""
