"""Chains: a job, then another once it succeeds (ingest, then predict), as one request.

No job waits for another: a waiting job would hold a worker slot, and a worker of concurrency 1
would deadlock with the next step queued behind it. Instead the first step's row carries the
plan of the next (in its metrics, under ``then``: the next step's id, chosen at submit, its kind
and parameters), and whatever records the first step's success starts the next one *in the same
transaction*: the runner's finish, or the last chunk's fan-in for a job that fanned out. That
finish is itself won by one run only, and the next step's id is fixed, so a step finishing twice
cannot start the next one twice, and no crash falls between the success and the start.

An abort of the chain flags the first step first: its row lock orders it against the finish, so
either the finish sees the flag and starts nothing, or the next step exists by then and is aborted
in turn. The first step's id stands for the chain: ``Job.info()`` on it shows both steps.
No schema change: the link each way lives in the rows' metrics JSON (``then`` / ``after``).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from workbench.catalog import Catalog
from workbench.catalog.models import Job as JobRow
from workbench.catalog.retry import retrying
from workbench.config import Settings
from workbench.errors import WorkbenchError
from workbench.jobs.kind import kind_named
from workbench.jobs.queues import send
from workbench.jobs.records import ABORTED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED, JobInfo, utcnow

log = logging.getLogger(__name__)
NEXT = "then"  # in the first step's metrics: {"id", "kind", "params"} of the next step
AFTER = "after"  # in the next step's metrics: the first step's id


def plan(kind: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """The next step's plan, its parameters' shape checked now; what they name (a dataset the
    first step makes) is checked when it starts."""
    kind_named(kind).parse(params)
    return {"id": uuid.uuid4().hex, "kind": kind, "params": dict(params)}


def next_plan(metrics: Mapping[str, Any] | None) -> dict[str, Any] | None:
    value = (metrics or {}).get(NEXT)
    return value if isinstance(value, dict) else None


@dataclass(frozen=True)
class NextStep:
    """The next step, checked as its owner just before the first step's success is recorded."""

    id: str
    kind: str
    owner: str
    after: str
    params: dict[str, Any]
    refused: str | None  # why it cannot run (its parameters no longer check): recorded failed


def prepare(catalog: Catalog, row: JobRow) -> NextStep | None:
    """The next step of ``row``'s chain, parsed and checked on ``catalog`` (acting as the owner),
    as a submit would; None when ``row`` is no chain's first step."""
    step = next_plan(row.metrics)
    if step is None:
        return None
    refused = None
    try:
        params = retrying(kind_named(step["kind"]).parse)(step["params"], catalog).to_json()
    except WorkbenchError as exc:
        params, refused = dict(step["params"]), str(exc)
    return NextStep(step["id"], step["kind"], row.owner, row.id, params, refused)


def start(session: Session, step: NextStep) -> bool:
    """In the transaction that records the first step's success: write the next step's row,
    unless the chain was aborted (the first step's row is locked by that success's update, so an
    abort either committed before, and is seen here, or waits and then finds the row written)."""
    if session.scalar(select(JobRow.abort_requested).where(JobRow.id == step.after)):
        return False
    row = JobRow(
        id=step.id, owner=step.owner, kind=step.kind, params=step.params, metrics={AFTER: step.after}
    )
    if step.refused is not None:
        row.state, row.error, row.finished_at = FAILED, step.refused, utcnow()
    session.add(row)
    return step.refused is None


def announce(settings: Settings, step: NextStep) -> None:
    """After the commit (a message sent before it would find no row to claim): hand the new step
    to a worker; the local worker finds queued rows itself."""
    if settings.embedded:
        return
    try:
        send(settings, kind_named(step.kind), step.id)
    except Exception as exc:  # the first step's success stands; the person can run the next by hand
        log.error(
            "job %s is queued as the next step of %s but could not be sent: %s", step.id, step.after, exc
        )


def next_id(catalog: Catalog, job_id: str) -> str | None:
    """The id of the next step of the chain ``job_id`` begins, if it does begin one."""
    with catalog.sessions() as session:
        step = next_plan(session.scalar(select(JobRow.metrics).where(JobRow.id == job_id)))
    return None if step is None else str(step["id"])


def summary(first: JobInfo, second: JobInfo | None) -> JobInfo:
    """The chain as one reading: where it is, why it stopped, both steps in ``steps``."""
    then = str((next_plan(first.metrics) or {}).get("kind", "?"))
    kind = f"{first.kind}+{then}"
    steps = (first,) if second is None else (first, second)
    chain = replace(first, kind=kind, steps=steps)
    if first.state in (QUEUED, RUNNING):
        return replace(chain, progress=first.progress / 2, message=f"{first.kind}: {first.message}")
    if first.state == FAILED:
        return replace(chain, error=f"{first.kind} failed, {then} not started: {first.error}")
    if second is None and first.state == SUCCEEDED and not first.abort_requested:
        # Only for the moment between two reads: the next step is written with the success.
        return replace(chain, state=RUNNING, progress=0.5, message=f"starting {then}")
    if first.state == ABORTED or second is None:  # succeeded but aborted before the next step began
        reason = first.message if first.state == ABORTED else f"aborted after {first.kind}"
        return replace(chain, state=ABORTED, message=f"{reason}; {then} not started", error=None)
    result = {**(first.result or {}), **(second.result or {})} if second.state == SUCCEEDED else None
    return replace(
        chain,
        state=second.state,
        progress=(1 + second.progress) / 2 if second.state not in FINISHED else second.progress,
        message=f"{then}: {second.message}",
        result=result,
        error=f"{then} failed after {first.kind}: {second.error}" if second.state == FAILED else None,
        abort_requested=first.abort_requested or second.abort_requested,
        finished_at=second.finished_at,
    )
