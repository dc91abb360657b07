"""The batch a job runs at: halved when memory runs out, recorded on the job's row before the
heavy work starts, and started at half after a run that the kernel killed out of memory
(docs/decisions.md #83). Training and inference share it."""

from __future__ import annotations

from typing import Any

from workbench.jobs.lost import killed_out_of_memory
from workbench.jobs.runner import JobContext
from workbench.ml.memory import Halved, Halving


def job_halving(ctx: JobContext[Any], batch: int, floor: int | None = None) -> Halving:
    """The job's halving batch, starting at ``batch`` (what it asked for), or at half the batch
    its last run was killed at; written on the row before this returns. ``floor``: the
    smallest batch (default WORKBENCH_MIN_BATCH_SIZE)."""
    recorded = ctx.recorded.get("memory") or {}
    floor = floor or ctx.settings.jobs.min_batch_size

    def tell(halved: Halved) -> None:
        ctx.note(str(halved), {"memory": halving.as_metrics()})

    halving = Halving(batch, floor, tell, started=recorded.get("started_at") or batch)
    halving.halvings = [Halved(**h) for h in recorded.get("halvings", [])]
    killed_at = recorded.get("batch")
    if killed_at and killed_out_of_memory(ctx.recorded):
        halving.batch = max(min(floor, killed_at), killed_at // 2)
        halved = Halved(killed_at, halving.batch, "its worker process was killed by the kernel's OOM killer")
        halving.halvings.append(halved)
        ctx.note(f"run {ctx.deliveries}: the run before {halved}", {"memory": halving.as_metrics()})
    else:
        ctx.note(f"batch {halving.batch}", {"memory": halving.as_metrics()})
    return halving
