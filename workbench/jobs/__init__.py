"""Jobs: heavy work on a worker, followed from any kernel. The ``jobs`` row is the truth.

    import workbench as wb
    job = wb.jobs.submit("ping", {"steps": 5, "seconds": 0.2})
    job                      # in a notebook: a live widget (progress, state, abort button)
    job.wait().state         # 'succeeded'
    wb.jobs.list(state="running"), wb.jobs.get(job.id).abort()

These module functions use the default connection (``wb.connect``); ``Workbench.jobs`` is the same
API on another one.
"""

from __future__ import annotations

import builtins
from typing import Any

from workbench.jobs import client
from workbench.jobs.client import Job
from workbench.jobs.records import ABORTED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED, JobInfo

__all__ = [
    "ABORTED",
    "FAILED",
    "FINISHED",
    "QUEUED",
    "RUNNING",
    "SUCCEEDED",
    "Job",
    "JobInfo",
    "Jobs",
]


class Jobs:
    """The jobs API bound to one catalog (``Workbench(...).jobs``)."""

    def __init__(self, catalog: Any) -> None:
        self.catalog = catalog

    def submit(self, kind: str, params: dict[str, Any] | None = None) -> Job:
        return client.submit(self.catalog, kind, params)

    def get(self, job_id: str) -> Job:
        return client.get(self.catalog, job_id)

    def list(
        self, state: str | None = None, kind: str | None = None, limit: int = 100
    ) -> builtins.list[JobInfo]:
        """The newest ``limit`` jobs, newest first."""
        return client.list_jobs(self.catalog, state=state, kind=kind, limit=limit)

    def abort(self, job_id: str, *, force: bool = False) -> None:
        client.abort(self.catalog, job_id, force=force)


def _default() -> Jobs:
    import workbench

    return workbench._workbench().jobs


def __getattr__(name: str) -> Any:
    # wb.jobs.submit / get / list / abort on the default connection, resolved when called.
    if name in ("submit", "get", "list", "abort"):
        return getattr(_default(), name)
    raise AttributeError(name)
