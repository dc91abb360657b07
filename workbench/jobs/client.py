"""Submit and follow jobs from any process: a notebook, the dashboard, the CLI.

``submit`` writes the jobs row, then hands the job to a worker: a Celery task sent by name through
RabbitMQ, or, in the embedded default, the local worker that claims queued rows. Everything a
client reads comes from the row (the truth) and, while a job runs, from Redis (fresher progress).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import replace
from typing import Any

from sqlalchemy import delete, select, update

from workbench.catalog import Catalog
from workbench.catalog.models import Job as JobRow
from workbench.catalog.retry import retrying
from workbench.errors import JobError, NotFoundError
from workbench.jobs import chain
from workbench.jobs.fanout import abort_family, chunk_progress, end_family
from workbench.jobs.kind import kind_named
from workbench.jobs.progress import ProgressChannel
from workbench.jobs.queues import client_app, send
from workbench.jobs.records import ABORTED, FINISHED, QUEUED, RUNNING, STATES, JobInfo, utcnow


class Job:
    """A handle on one job; cheap to make, and every property reads the current state."""

    def __init__(self, catalog: Catalog, job_id: str) -> None:
        self.catalog = catalog
        self.id = job_id

    def info(self) -> JobInfo:
        """The job's reading; for a chain's first step, the chain's, with both steps in ``steps``."""
        info = _step_info(self.catalog, self.id)
        step = chain.next_plan(info.metrics)
        if step is None:
            return info
        try:
            second = _step_info(self.catalog, step["id"])
        except NotFoundError:  # not started (yet, or ever)
            second = None
        return chain.summary(info, second)

    @property
    def state(self) -> str:
        return self.info().state

    @property
    def progress(self) -> float:
        """How far it is, 0..1 (``info()`` has the whole reading: message, metrics...)."""
        return self.info().progress

    def abort(self, *, force: bool = False) -> None:
        """Ask the job to stop at its next safe point (a chunk, a batch); it ends ``aborted``.
        ``force`` ends it in the record at once, for a job that stopped checking (see ``abort``).
        A chain's first step stops the whole chain: the step running, and the next from starting."""
        abort(self.catalog, self.id, force=force)

    def watch(self, interval: float = 0.5) -> Iterator[JobInfo]:
        """A reading every ``interval`` seconds until the job ends (the last one is its end):
        the one polling loop that waiting, widgets and the dashboard all follow a job with."""
        keep_worker = _local_worker_keeper(self.catalog)
        while True:
            info = self.info()
            yield info
            if info.finished:
                return
            keep_worker()
            time.sleep(interval)

    def wait(self, timeout: float | None = None, *, show_progress: bool | None = None) -> JobInfo:
        """Block until the job ends (a progress bar on a terminal); TimeoutError after ``timeout``."""
        from tqdm.auto import tqdm

        show = sys.stderr.isatty() if show_progress is None else show_progress
        deadline = None if timeout is None else time.monotonic() + timeout
        bar = tqdm(total=100, desc=f"{self.kind} {self.id[:8]}", unit="%", disable=not show, leave=True)
        try:
            for info in self.watch(interval=0.1):
                bar.n = round(info.progress * 100)
                bar.set_postfix_str(info.message[:60], refresh=True)
                if not info.finished and deadline is not None and time.monotonic() > deadline:
                    raise TimeoutError(f"job {self.id} still {info.state} after {timeout} s")
            return info
        finally:
            bar.close()

    @property
    def kind(self) -> str:
        return self.info().kind

    def _ipython_display_(self) -> None:
        from IPython.display import display

        from workbench.jobs.widget import JobWidget

        display(JobWidget(self))

    def __repr__(self) -> str:
        info = self.info()
        return f"<Job {self.id} {info.kind} {info.state} {info.progress:.0%} {info.message!r}>"


@retrying
def _step_info(catalog: Catalog, job_id: str) -> JobInfo:
    """One job row's reading, with its chunks' or Redis' fresher progress while it runs."""
    with catalog.sessions() as session:
        row = session.get(JobRow, job_id)
        if row is None or row.owner != catalog.user:
            raise NotFoundError(f"no job {job_id!r} for user {catalog.user!r}")
        info = JobInfo.from_row(row)
    if info.state == RUNNING and info.chunks:  # fanned out: its chunks hold the progress
        progress = chunk_progress(catalog, job_id, info.chunks)
        message = f"{info.chunks_done} of {info.chunks} chunks done"
        return replace(info, progress=progress, message=message)
    if info.state == RUNNING:
        live = ProgressChannel(catalog.settings.result_backend).read(job_id)
        if live and live.get("state") == RUNNING:
            info = _with_live(info, live)
    return info


def submit(
    catalog: Catalog,
    kind: str,
    params: Mapping[str, Any] | None = None,
    *,
    then: tuple[str, Mapping[str, Any]] | None = None,
) -> Job:
    """Check ``params`` (ParamsError says what is wrong) and queue a job of ``kind``; returns at
    once. ``then``: a (kind, params) job to start once this one succeeds (``jobs.chain``); the
    handle returned stands for both. Raises JobError when no worker can be reached."""
    job_kind = kind_named(kind)
    if job_kind.part_of is not None:
        raise JobError(f"{kind!r} jobs are parts of {job_kind.part_of!r} jobs: submit {job_kind.part_of!r}")
    checked = job_kind.parse(params or {}, catalog).to_json()
    metrics = {} if then is None else {chain.NEXT: chain.plan(*then)}
    job_id = uuid.uuid4().hex
    with catalog.transaction() as session:
        session.add(JobRow(id=job_id, owner=catalog.user, kind=kind, params=checked, metrics=metrics))
    settings = catalog.settings
    if settings.embedded:
        from workbench.jobs.local import ensure_local_worker

        ensure_local_worker(settings)
        return Job(catalog, job_id)
    try:
        send(settings, job_kind, job_id)
    except Exception as exc:
        with catalog.transaction() as session:  # leave no queued row that nothing will run
            session.execute(delete(JobRow).where(JobRow.id == job_id))
        raise JobError(
            f"could not send the {kind} job to the broker ({type(exc).__name__}: {exc}); "
            "is RabbitMQ running and WORKBENCH_BROKER_URL right? Nothing was queued."
        ) from exc
    return Job(catalog, job_id)


def get(catalog: Catalog, job_id: str) -> Job:
    job = Job(catalog, job_id)
    job.info()  # NotFoundError now rather than later
    return job


def list_jobs(
    catalog: Catalog, *, state: str | None = None, kind: str | None = None, limit: int = 100
) -> list[JobInfo]:
    """The current user's jobs, newest first (not the chunks of a fanned-out job: their parent
    stands for them)."""
    if state is not None and state not in STATES:
        raise JobError(f"unknown state {state!r}; states: {', '.join(STATES)}")
    query = select(JobRow).where(JobRow.owner == catalog.user, JobRow.parent_id.is_(None))
    if state is not None:
        query = query.where(JobRow.state == state)
    if kind is not None:
        query = query.where(JobRow.kind == kind)
    query = query.order_by(JobRow.created_at.desc(), JobRow.id).limit(limit)
    with catalog.sessions() as session:
        return [JobInfo.from_row(row) for row in session.scalars(query)]


def abort(catalog: Catalog, job_id: str, *, force: bool = False) -> None:
    """Request an abort; a queued job ends at once. ``force`` also ends a running job in the
    record now: the fallback for a job that stopped checking. Its worker can no longer write to
    the row (every write is guarded by its claim), learns at its next write that it lost the job,
    and a message not yet delivered is revoked; a job stuck for good still holds its worker's
    thread until that worker restarts (Celery's revoke cannot terminate a threads-pool task).
    A chain's first step: its flag is committed first, so the next step either never starts or
    already exists when it is aborted in turn (``jobs.chain``)."""
    _abort_one(catalog, job_id, force)
    if (then := chain.next_id(catalog, job_id)) is not None and _exists(catalog, then):
        _abort_one(catalog, then, force)


@retrying
def _exists(catalog: Catalog, job_id: str) -> bool:
    with catalog.sessions() as session:
        return session.get(JobRow, job_id) is not None


def _abort_one(catalog: Catalog, job_id: str, force: bool) -> None:
    with catalog.transaction() as session:
        row = session.get(JobRow, job_id)
        if row is None or row.owner != catalog.user:
            raise NotFoundError(f"no job {job_id!r} for user {catalog.user!r}")
        if row.state in FINISHED:
            return
        session.execute(update(JobRow).where(JobRow.id == job_id).values(abort_requested=True))
        fanned_out = row.chunks > 0
        # Not started yet: it ends now (a worker that gets it later finds it no longer queued).
        # A fanned-out job ends with its family, below, which undoes what its chunks made.
        ending = [QUEUED, RUNNING] if force and not fanned_out else [QUEUED]
        session.execute(
            update(JobRow)
            .where(JobRow.id == job_id, JobRow.state.in_(ending))
            .values(
                state=ABORTED,
                worker=None,
                finished_at=utcnow(),
                message="aborted by force" if row.state == RUNNING else "aborted before it started",
            )
        )
    if fanned_out and force:
        end_family(catalog, job_id, ABORTED, "aborted by force")
    elif fanned_out:  # its chunks stop at their next safe point, and the first to stop ends them all
        abort_family(catalog, job_id)
    if force and not catalog.settings.embedded:
        client_app(catalog.settings.broker_url).control.revoke(job_id)


def _local_worker_keeper(catalog: Catalog) -> Callable[[], None]:
    """In the embedded default, a function that restarts a vanished local worker (checked every
    few seconds) so that a job whose worker was killed is picked up again while someone waits."""
    settings = catalog.settings
    if not settings.embedded:
        return lambda: None
    from workbench.jobs.local import ensure_local_worker

    checked = [0.0]

    def keep() -> None:
        if time.monotonic() - checked[0] > 2.0:
            checked[0] = time.monotonic()
            ensure_local_worker(settings)

    return keep


def _with_live(info: JobInfo, live: dict[str, Any]) -> JobInfo:
    return replace(
        info,
        progress=float(live.get("progress", info.progress)),
        message=str(live.get("message", info.message)),
        metrics={**info.metrics, **live.get("metrics", {})},
    )
