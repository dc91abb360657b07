"""The ``ping`` job kind: an empty job that checks workers are alive and measures the job
machinery itself (submit-to-start latency, progress, abort)."""

from __future__ import annotations

import time
from typing import Any

from pydantic import Field

from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.runner import JobContext


class PingParams(JobParams):
    steps: int = Field(0, ge=0, le=1_000_000, description="progress steps")
    seconds: float = Field(0.0, ge=0, le=3600, description="seconds between steps")


@job_kind("ping", queue="imagery", params=PingParams)
def ping(ctx: JobContext[PingParams]) -> dict[str, Any]:
    steps = ctx.params.steps
    for step in range(steps):
        time.sleep(ctx.params.seconds)
        ctx.check_abort()
        ctx.progress((step + 1) / steps, f"step {step + 1} of {steps}", milestone=True)
    return {"steps": steps, "worker": ctx.worker}
