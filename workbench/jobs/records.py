"""Job states, the snapshot of a jobs row that clients read, and the exceptions a job stops with."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from workbench.catalog.display import card, when
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
    steps: tuple[JobInfo, ...] = ()  # set on a chain (``jobs.chain``): each step's own reading

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

    def __repr__(self) -> str:
        steps = "".join(f"; step {n} {s.kind} {s.id[:12]}: {s.state}" for n, s in enumerate(self.steps, 1))
        return f"<Job {self.id[:12]} {self.kind}: {self.state} {self.progress:.0%}, {outcome(self)!r}{steps}>"

    def _repr_html_(self) -> str:
        facts = {"state": f"{self.state} ({self.progress:.0%})", "outcome": outcome(self) or "—",
                 "started": when(self.started_at), "finished": when(self.finished_at)}  # fmt: skip
        for n, step in enumerate(self.steps, 1):
            facts[f"step {n}"] = f"{step.kind} {step.id[:12]}: {step.state}"
        return card("job", f"Job {self.id[:12]}: {self.kind}", facts)

    def to_dict(self) -> dict[str, Any]:
        out = dict(self.__dict__)
        out["steps"] = [step.to_dict() for step in self.steps]
        for key in ("created_at", "started_at", "finished_at"):
            value = out[key]
            out[key] = value.isoformat() if value is not None else None
        return out


def outcome(info: JobInfo) -> str:
    """A job in a line for a person: why it failed, what it made, or where it is."""
    if info.state == FAILED and info.error:
        return info.error
    if info.state == SUCCEEDED and info.result:
        made = [
            f"{key.replace('_', ' ')} {_said(key, value)}"
            for key, value in info.result.items()
            if _plain(value)
        ]
        return "done: " + ", ".join(made)[:300] if made else info.message
    return info.message


def _plain(value: Any) -> bool:
    return isinstance(value, str | int | float) and not isinstance(value, bool) and "/" not in str(value)


def _said(key: str, value: Any) -> str:
    """A result's number as a person reads it: fractions of a whole as percentages."""
    if isinstance(value, float):
        fraction = any(word in key for word in ("accuracy", "agreement", "fraction"))
        return f"{value:.1%}" if fraction and 0 <= value <= 1 else f"{value:,.3g}"
    return f"{value:,}" if isinstance(value, int) else str(value)
