"""Fan-out: a big job becomes chunk jobs that every idle worker of its queue takes in parallel.

A kind declares it with ``@job_kind(..., fanout=FanOut(plan, chunk, finish, undo))``. Its job
then runs in three steps, each on whichever worker the queue hands it to:

1. the parent's run: ``plan`` splits the work into chunk parameters and a ``context`` (kept on
   the parent); the chunks become rows of the jobs table (kind ``<kind>_chunk``, ``parent_id``
   set), are sent to the same queue, and the parent stays ``running`` with no process of its own;
2. each chunk: an ordinary job, so fencing, heartbeats, the reaper's redelivery, capped
   deliveries and abort all hold for it; ``chunk`` does its share, idempotently;
3. the last chunk to succeed (counted on the parent in the chunk's own fenced transaction) runs
   ``finish`` over every chunk's result and marks the parent succeeded.

A chunk failing for good, or an abort, ends the family: the parent fails (or is aborted), every
other chunk is aborted in the same transaction, whose row locks wait for any chunk write in
flight and after which no chunk can write again (``jobs.fence``), then ``undo`` runs once.
Why rows and not a Celery chord: decision #61.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import Field
from sqlalchemy import func, select, update

from workbench.catalog import Catalog
from workbench.catalog.db import rows_changed
from workbench.catalog.models import Job as JobRow
from workbench.catalog.retry import retrying
from workbench.jobs import chain
from workbench.jobs.kind import JobKind, JobParams, kind_named
from workbench.jobs.queues import send
from workbench.jobs.records import ABORTED, FAILED, QUEUED, RUNNING, SUCCEEDED, JobAborted, utcnow

if TYPE_CHECKING:
    from workbench.jobs.runner import JobContext

log = logging.getLogger(__name__)
P = TypeVar("P", bound=JobParams)


class ChunkParams(JobParams):
    """A chunk job's own parameters: its place in the plan and its share of the work."""

    index: int = Field(ge=0, description="the chunk's place in its parent's plan")
    part: dict[str, Any] = Field(description="this chunk's share: an id range, a slice of files")


@dataclass(frozen=True)
class Plan:
    parts: list[dict[str, Any]]  # one per chunk, JSON
    context: dict[str, Any]  # shared by every chunk, the fan-in and the undo, JSON


@dataclass(frozen=True)
class Chunk(Generic[P]):
    """What a chunk function gets besides its JobContext: the parent's parameters and plan."""

    parent_id: str
    index: int
    part: dict[str, Any]
    params: P
    context: dict[str, Any]


@dataclass(frozen=True)
class FanIn:
    """What ``finish`` gets: every chunk's result, in plan order."""

    parent_id: str
    context: dict[str, Any]
    results: list[dict[str, Any]]


@dataclass(frozen=True)
class FanOut(Generic[P]):
    # None: the work is one chunk or less; the kind's own function runs it in one process.
    plan: Callable[[JobContext[P]], Plan | None]
    chunk: Callable[[JobContext[ChunkParams], Chunk[P]], dict[str, Any]]
    # Returns the parent's result and its last message.
    finish: Callable[[Catalog, P, FanIn], tuple[dict[str, Any], str]]
    undo: Callable[[Catalog, P, dict[str, Any]], None] | None = None
    # One chunk in the queue at a time, each sent to the back of the queue when the one before
    # succeeds: long chunks (a sweep's trainings) take turns with other people's jobs.
    one_at_a_time: bool = False


class FannedOut(Exception):
    """The parent's run planned and sent its chunks: it stays running, the chunks finish it."""


def chunk_kind_name(parent: str) -> str:
    return f"{parent}_chunk"


def chunk_kind(parent: JobKind[Any]) -> JobKind[ChunkParams]:
    """The kind that runs one chunk of ``parent``'s jobs, on the same queue."""

    def run(ctx: JobContext[ChunkParams]) -> dict[str, Any]:
        return run_chunk(parent.name, ctx)

    run.__qualname__ = f"chunk_of_{parent.name}"  # the registry's origin of this kind
    name = chunk_kind_name(parent.name)
    return JobKind(name, parent.queue, ChunkParams, run, parent.error, part_of=parent.name)


def fanout_of(kind: JobKind[Any]) -> FanOut[Any]:
    if kind.fanout is None:
        raise ValueError(f"job kind {kind.name!r} does not fan out")
    return kind.fanout


# -- 1. the parent ---------------------------------------------------------------------------
def start(kind: JobKind[Any], ctx: JobContext[Any]) -> dict[str, Any] | None:
    """Run a fan-out kind's job: plan and send its chunks (raises FannedOut), or, when the
    catalog is embedded or the work fits one chunk, run it here as one process."""
    fanout = fanout_of(kind)
    if ctx.settings.embedded:
        return kind.run(ctx)
    chunk_ids = _children(ctx.catalog, ctx.job_id)
    if not chunk_ids:  # not planned by an earlier delivery of this job
        plan = fanout.plan(ctx)
        if plan is None:
            return kind.run(ctx)
        chunk_ids = _insert_chunks(ctx, plan)
    _send_queued(ctx.catalog, kind, ctx.job_id, only_first=fanout.one_at_a_time)
    done = _set_chunks(ctx, len(chunk_ids))
    ctx.check_abort()  # an abort that came while planning: the runner ends the family
    if done < len(chunk_ids):
        raise FannedOut
    result, message = _fan_in(ctx.catalog, kind, ctx.params, ctx.job_id)  # every chunk beat us to it
    ctx.progress(1.0, message, milestone=True)
    return result


@retrying
def _children(catalog: Catalog, parent_id: str) -> list[str]:
    with catalog.sessions() as session:
        query = select(JobRow.id).where(JobRow.parent_id == parent_id).order_by(JobRow.created_at, JobRow.id)
        return list(session.scalars(query))


def _send_queued(catalog: Catalog, kind: JobKind[Any], parent_id: str, *, only_first: bool) -> None:
    """Send the family's queued chunks (or the first of them, in plan order) to the queue; a
    second message for a chunk is harmless (one claim wins)."""
    queued = _still_queued(catalog, parent_id)
    for chunk_id in queued[:1] if only_first else queued:
        send(catalog.settings, kind_named(chunk_kind_name(kind.name)), chunk_id)


@retrying
def _still_queued(catalog: Catalog, parent_id: str) -> list[str]:
    """The family's chunks still queued, in plan order."""
    with catalog.sessions() as session:
        rows = session.execute(
            select(JobRow.id, _index()).where(JobRow.parent_id == parent_id, JobRow.state == QUEUED)
        ).all()
    return [chunk_id for chunk_id, _ in sorted(rows, key=lambda row: row[1])]


def _index() -> Any:
    """A chunk's place in the plan, read without its share (a slice of thousands of files)."""
    return JobRow.params["index"].as_integer()


@retrying
def _insert_chunks(ctx: JobContext[Any], plan: Plan) -> list[str]:
    """The chunk rows and the parent's context, in one transaction of the parent's delivery."""
    ids = [uuid.uuid4().hex for _ in plan.parts]
    name = chunk_kind_name(ctx.kind)
    with ctx.catalog.transaction() as session:
        session.execute(update(JobRow).where(JobRow.id == ctx.job_id).values(context=plan.context))
        for index, (chunk_id, part) in enumerate(zip(ids, plan.parts, strict=True)):
            params = {"index": index, "part": part}
            session.add(
                JobRow(id=chunk_id, owner=ctx.catalog.user, kind=name, params=params, parent_id=ctx.job_id)
            )
    return ids


@retrying
def _set_chunks(ctx: JobContext[Any], chunks: int) -> int:
    """Record how many chunks there are (the reaper leaves a parent alone from now on: its
    chunks are its life); returns how many are done already."""
    with ctx.catalog.transaction() as session:
        return session.execute(
            update(JobRow)
            .where(JobRow.id == ctx.job_id)
            .values(chunks=chunks, message=f"0 of {chunks} chunks done")
            .returning(JobRow.chunks_done)
        ).scalar_one()


# -- 2. a chunk --------------------------------------------------------------------------------
def run_chunk(parent_kind: str, ctx: JobContext[ChunkParams]) -> dict[str, Any]:
    """Do this chunk's share; count it done on the parent; the last one finishes the parent."""
    kind = kind_named(parent_kind)
    parent = _parent(ctx.catalog, ctx.job_id)
    if parent.state != RUNNING or parent.abort_requested:
        raise JobAborted(f"its {parent_kind} job was aborted or ended ({parent.state})")
    params = kind.parse(parent.params or {})  # checked on the parent's run; the catalog moves on
    chunk = Chunk(parent.id, ctx.params.index, ctx.params.part, params, dict(parent.context or {}))
    result = fanout_of(kind).chunk(ctx, chunk)
    done, chunks = _count_done(ctx, parent.id, result)
    if chunks and done == chunks:
        final, message = _fan_in(ctx.catalog, kind, params, parent.id)
        then = chain.prepare(ctx.catalog, parent)
        if _succeed(ctx.catalog, parent.id, final, message, then) and then is not None:
            chain.announce(ctx.settings, then)
    elif fanout_of(kind).one_at_a_time:
        _send_queued(ctx.catalog, kind, parent.id, only_first=True)  # the next one's turn
    return result


@retrying
def _parent(catalog: Catalog, chunk_id: str) -> JobRow:
    with catalog.sessions() as session:
        parent_id = session.scalars(select(JobRow.parent_id).where(JobRow.id == chunk_id)).one()
        row = session.get_one(JobRow, parent_id)
        session.expunge(row)
        return row


@retrying
def _count_done(ctx: JobContext[ChunkParams], parent_id: str, result: dict[str, Any]) -> tuple[int, int]:
    """Count this chunk on its parent once, in this delivery's fenced transaction: the chunk's own
    ``chunks_done`` (0 or 1) says whether an earlier delivery counted it already."""
    with ctx.catalog.transaction() as session:
        first = rows_changed(
            session,
            update(JobRow)
            .where(JobRow.id == ctx.job_id, JobRow.chunks_done == 0)
            .values(chunks_done=1, result=result),
        )
        # Without a count to add, the update still locks the parent's row: the counts read are
        # the last word, whoever else is counting or setting ``chunks`` right now.
        counted = update(JobRow).where(JobRow.id == parent_id).values(chunks_done=JobRow.chunks_done + first)
        done, chunks = session.execute(counted.returning(JobRow.chunks_done, JobRow.chunks)).one()
    return done, chunks


def _fan_in(
    catalog: Catalog, kind: JobKind[Any], params: JobParams, parent_id: str
) -> tuple[dict[str, Any], str]:
    with catalog.sessions() as session:
        parent = session.get_one(JobRow, parent_id)
        context = dict(parent.context or {})
        chunks = session.execute(select(_index(), JobRow.result).where(JobRow.parent_id == parent_id)).all()
    results = [result or {} for _, result in sorted(chunks, key=lambda row: row[0])]
    return fanout_of(kind).finish(catalog, params, FanIn(parent_id, context, results))


@retrying
def _succeed(
    catalog: Catalog, parent_id: str, result: dict[str, Any], message: str, then: chain.NextStep | None
) -> bool:
    """Record the parent's success and start its chain's next step with it; True when that
    step was started here."""
    with catalog.transaction() as session:  # fenced by the last chunk's delivery
        done = rows_changed(
            session,
            update(JobRow)
            .where(JobRow.id == parent_id, JobRow.state == RUNNING, JobRow.error.is_(None))
            .values(state=SUCCEEDED, result=result, progress=1.0, message=message, finished_at=utcnow()),
        )
        return bool(done) and then is not None and chain.start(session, then)


# -- 3. the end of a family that did not make it -----------------------------------------------
def end_family(catalog: Catalog, parent_id: str, state: str | None = None, reason: str = "") -> bool:
    """End the family of ``parent_id``: abort its unfinished chunks, undo, then record the
    parent ``state`` (FAILED or ABORTED, with ``reason``; None: the parent's own run has ended
    it already). Returns whether this call did it: one caller wins, so the undo runs once, and
    before the parent reads as ended (a re-run of the same ingest must not meet the undo)."""
    if not _begin_end(catalog, parent_id, state, reason or str(state)):
        return False
    _undo(catalog, parent_id)
    if state is not None:
        _record_end(catalog, parent_id, state)
    return True


@retrying
def _begin_end(catalog: Catalog, parent_id: str, state: str | None, reason: str) -> bool:
    with catalog.transaction() as session:
        if state is not None:  # the parent's error, null while it runs, marks the family ending
            ending = (
                update(JobRow)
                .where(JobRow.id == parent_id, JobRow.state == RUNNING, JobRow.error.is_(None))
                .values(error=reason, abort_requested=True)
            )
            if not rows_changed(session, ending):
                return False
        # The row locks wait for any chunk's write in flight; after this, fencing stops them all.
        rows_changed(
            session,
            update(JobRow)
            .where(JobRow.parent_id == parent_id, JobRow.state.in_([QUEUED, RUNNING]))
            .values(state=ABORTED, abort_requested=True, worker=None, finished_at=utcnow(),
                    message="its job ended before this chunk did"),
        )  # fmt: skip
    return True


@retrying
def _record_end(catalog: Catalog, parent_id: str, state: str) -> None:
    with catalog.transaction() as session:
        parent = session.get_one(JobRow, parent_id)
        parent.state, parent.finished_at = state, utcnow()
        if state == ABORTED:  # an abort is no error: its reason is the last message
            parent.message, parent.error = parent.error or "aborted", None


def _undo(catalog: Catalog, parent_id: str) -> None:
    with catalog.sessions() as session:
        parent = session.get_one(JobRow, parent_id)
        kind, params, context, owner = parent.kind, dict(parent.params or {}), parent.context, parent.owner
    fanout = kind_named(kind).fanout
    if fanout is None or fanout.undo is None or context is None:  # nothing planned, nothing made
        return
    try:
        fanout.undo(catalog.acting_as(owner), kind_named(kind).parse(params), dict(context))
    except Exception:
        log.exception("undoing job %s failed; what it wrote stays", parent_id)


def chunk_ended(catalog: Catalog, row: JobRow, state: str, reason: str) -> None:
    """A chunk ended badly for good: its family ends with it (a lost delivery is not an end)."""
    assert row.parent_id is not None
    what = "aborted" if state == ABORTED else f"a chunk failed: {reason}"
    end_family(catalog, row.parent_id, ABORTED if state == ABORTED else FAILED, what)


@retrying
def abort_family(catalog: Catalog, parent_id: str) -> None:
    """Flag every unfinished chunk of ``parent_id`` to abort (``client.abort``): running chunks
    stop at their next safe point and end the family; queued ones end it when claimed."""
    with catalog.transaction() as session:
        session.execute(
            update(JobRow)
            .where(JobRow.parent_id == parent_id, JobRow.state.in_([QUEUED, RUNNING]))
            .values(abort_requested=True)
        )


@retrying
def chunk_progress(catalog: Catalog, parent_id: str, chunks: int) -> float:
    """A fanned-out parent's progress: the sum of its chunks'."""
    with catalog.sessions() as session:
        total = session.scalar(select(func.sum(JobRow.progress)).where(JobRow.parent_id == parent_id))
    return min(1.0, float(total or 0.0) / chunks) if chunks else 0.0
