"""Job states, the snapshot of a jobs row that clients read, and the exceptions a job stops with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from workbench.catalog.models import Job as JobRow

QUEUED, RUNNING, SUCCEEDED, FAILED, ABORTED = "queued", "running", "succeeded", "failed", "aborted"
FINISHED = frozenset({SUCCEEDED, FAILED, ABORTED})
STATES = (QUEUED, RUNNING, SUCCEEDED, FAILED, ABORTED)


class JobAborted(Exception):
    """Raised inside a job function at a safe point after an abort was requested."""


class JobLost(JobAborted):
    """This run's delivery of the job is over: another worker took it over (``jobs.fence``)."""


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class JobInfo:
    """One reading of a job: its row, with live progress from Redis where that is fresher."""

    id: str
    kind: str
    state: str
    progress: float
    message: str
    metrics: dict[str, Any]
    params: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    abort_requested: bool
    deliveries: int
    worker: str | None
    created_at: dt.datetime | None
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    parent_id: str | None = None  # set on a chunk of a fanned-out job
    chunks: int = 0  # set on a fanned-out job: how many chunks run it
    chunks_done: int = 0

    @property
    def finished(self) -> bool:
        return self.state in FINISHED

    @classmethod
    def from_row(cls, row: JobRow) -> JobInfo:
        return cls(
            id=row.id,
            kind=row.kind,
            state=row.state,
            progress=row.progress,
            message=row.message,
            metrics=dict(row.metrics or {}),
            params=dict(row.params or {}),
            result=row.result,
            error=row.error,
            abort_requested=row.abort_requested,
            deliveries=row.deliveries,
            worker=row.worker,
            created_at=row.created_at,
            started_at=row.started_at,
            finished_at=row.finished_at,
            parent_id=row.parent_id,
            chunks=row.chunks,
            chunks_done=row.chunks_done if row.parent_id is None else 0,
        )

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        for key in ("created_at", "started_at", "finished_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out
