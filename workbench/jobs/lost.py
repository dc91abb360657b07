"""Runs lost with their process: what the worker's parent saw, kept on the job's row, and the
message of a job that was lost too many times.

A prefork worker's parent outlives a child the kernel killed; Celery tells it the child exited
by a signal (``WorkerLostError``, in ``workers.app``'s request class). SIGKILL alone does not say
out of memory (a person's ``kill -9`` sends it too), so the parent also reads how many processes
the kernel's OOM killer has killed in its memory cgroup (``oom_kill``; the host's count where no
cgroup tells) when the child took the task and when it died: SIGKILL and a count that went up is
an out-of-memory kill (docs/decisions.md #83). The reaper still queues the job again (its
heartbeat went silent), and each run counts a delivery.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from workbench.catalog import Catalog
from workbench.catalog.models import Job as JobRow
from workbench.catalog.retry import retrying
from workbench.jobs.records import QUEUED, RUNNING

log = logging.getLogger(__name__)
CGROUP_ROOT = Path("/sys/fs/cgroup")


def oom_kills() -> int | None:
    """Processes killed by the OOM killer in this process's memory cgroup (v1 or v2), else on
    the whole host (/proc/vmstat); None where Linux does not say."""
    for path in _counter_files():
        try:
            for line in path.read_text().splitlines():
                name, _, value = line.partition(" ")
                if name == "oom_kill":
                    return int(value)
        except (OSError, ValueError):
            continue
    return None


def _counter_files() -> list[Path]:
    files: list[Path] = []
    try:
        lines = Path("/proc/self/cgroup").read_text().splitlines()
    except OSError:
        lines = []
    for line in lines:
        _, controllers, group = line.split(":", 2)
        group = group.lstrip("/")
        if "memory" in controllers.split(","):  # v1; in a container the mount is the group itself
            files += [
                CGROUP_ROOT / "memory" / group / "memory.oom_control",
                CGROUP_ROOT / "memory" / "memory.oom_control",
            ]
        elif controllers == "":  # v2, the unified hierarchy
            files += [CGROUP_ROOT / group / "memory.events", CGROUP_ROOT / "memory.events"]
    return [*files, Path("/proc/vmstat")]


@retrying
def record_lost_run(catalog: Catalog, job_id: str, worker: str, how: str, out_of_memory: bool) -> bool:
    """Note on the job's row that its latest run, on ``worker``, died (``how``: Celery's words).
    The run may be reaped already: a child thrashing at its memory limit can miss heartbeats
    for longer than the stale time before the OOM killer acts (seen with a 3 s stale time).
    False when the job has moved on (finished, or running elsewhere): nothing to note then."""
    with catalog.transaction() as session:
        row = session.get(JobRow, job_id, with_for_update=True)
        ours = row is not None and (
            (row.state == RUNNING and row.worker == worker) or (row.state == QUEUED and row.worker is None)
        )
        if row is None or not ours or row.deliveries < 1:
            return False
        metrics = {**(row.metrics or {})}
        if any(lost["delivery"] == row.deliveries for lost in metrics.get("lost", [])):
            return False
        lost = {"delivery": row.deliveries, "how": how, "out_of_memory": out_of_memory}
        metrics["lost"] = [*metrics.get("lost", []), lost]
        what = "ran out of memory (killed by the kernel)" if out_of_memory else "was lost"
        row.metrics, row.message = metrics, f"run {row.deliveries} {what}; queued again"
        return True


def killed_out_of_memory(metrics: dict[str, Any] | None) -> bool:
    """Whether the last run lost was killed out of memory (a redelivered run starts smaller)."""
    lost = (metrics or {}).get("lost") or []
    return bool(lost) and bool(lost[-1].get("out_of_memory"))


def lost_too_often(deliveries: int, metrics: dict[str, Any] | None) -> str:
    """The error of a job started ``deliveries`` times without ever finishing: out of memory,
    at what batch and what to try, when its runs were seen killed that way."""
    metrics = metrics or {}
    runs = deliveries - 1
    memory = metrics.get("memory") or {}
    batch = memory.get("batch")
    at = f" at batch {batch}" if batch else ""
    if batch and memory.get("started_at") not in (None, batch):
        at += f" (it started at {memory['started_at']})"
    killed = sum(1 for lost in metrics.get("lost", []) if lost.get("out_of_memory"))
    if killed:
        return (
            f"ran out of memory{at}: the kernel's out-of-memory killer stopped its worker process in "
            f"{killed} of its {runs} runs. Not retried again; try a smaller batch_size, a smaller "
            "image_size, or a worker with more memory."
        )
    return (
        f"started {runs} times without finishing{at}: its worker was lost each time (killed, or "
        "out of memory?). Not retried again; look at the worker's log."
    )
