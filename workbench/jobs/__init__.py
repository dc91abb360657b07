"""Jobs: heavy work on a worker, followed from any kernel. The ``jobs`` row is the truth.

    bench = wb.connect()
    job = bench.submit("ping", {"steps": 5, "seconds": 0.2})
    job                      # in a notebook: a live widget (progress, state, abort button)
    job.wait().state         # 'succeeded'
    bench.jobs(state="running"), bench.job(job.id).abort()

This package is the job framework: kinds (``kind``), submitting and following (``client``),
running (``runner``, ``local``), big jobs as chunk jobs on every worker (``fanout``), the
broker's settings (``queues``). It knows no job kind itself
but ``ping``; the domains declare theirs and ``workbench.kinds`` lists them.
"""

from __future__ import annotations

from workbench.jobs.client import Job
from workbench.jobs.records import ABORTED, FAILED, FINISHED, QUEUED, RUNNING, SUCCEEDED, JobInfo

__all__ = ["ABORTED", "FAILED", "FINISHED", "QUEUED", "RUNNING", "SUCCEEDED", "Job", "JobInfo"]
