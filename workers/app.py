"""The Celery app: ``celery -A workers.app worker -Q imagery`` (or ``workbench worker``).

Every task takes only a job id and runs that job through ``workbench.jobs.runner``: the jobs row
holds the parameters, the state and the result. Tasks are acknowledged when they start, so hours
of training never hold a delivery open past RabbitMQ's consumer_timeout; a worker that vanishes
mid-job is noticed by its silent heartbeat, and the reaper here queues the job again
(docs/decisions.md).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import Any

from billiard.exceptions import WorkerLostError
from billiard.process import current_process
from celery import Celery, Task
from celery.signals import worker_process_init, worker_ready, worker_shutdown
from celery.worker.request import Request
from sqlalchemy.exc import SQLAlchemyError

from workbench.catalog import Catalog
from workbench.catalog.retry import describe
from workbench.config import Settings
from workbench.errors import CatalogError
from workbench.jobs import metrics
from workbench.jobs.lost import oom_kills, record_lost_run
from workbench.jobs.queues import SCHEDULED_REPORTS, celery_config, send
from workbench.jobs.reaper import requeue_stale_jobs
from workbench.jobs.runner import run_job
from workbench.kinds import load_kinds

log = logging.getLogger(__name__)
settings = Settings.from_env()
metrics.prepare(settings)  # before any job's process records a metric
KINDS = load_kinds(settings.job_modules)
app = Celery("workbench")
app.conf.update(celery_config(settings, {kind.task_name: kind.queue for kind in KINDS.values()}))
_catalog: Catalog | None = None
_child = ""  # ":<pid>" in a prefork child: its runs are signed apart from its siblings'


def catalog() -> Catalog:
    """One catalog (engine, pool) per worker process, made on first use, after any fork."""
    global _catalog
    if _catalog is None:
        _catalog = Catalog(settings, service=True)  # acts as each job's owner
    return _catalog


@worker_process_init.connect
def _in_a_new_child(**_: object) -> None:
    """A prefork child (the torch queues, decision #82): never use the parent's database
    connections (its reaper's), and may fork as a job in a threads pool may (the training
    cache's decoding pool): billiard marks its children daemons, which may have none."""
    global _catalog, _child
    if _catalog is not None:
        _catalog.engine.dispose(close=False)  # the parent's connections stay the parent's
        _catalog = None
    current_process().daemon = False
    _child = f":{os.getpid()}"


class _JobRequest(Request):
    """A job task in the worker's main process. Under prefork, when the child running it dies,
    note on the job's row how (by SIGKILL while the OOM-kill count rose: out of memory), for the
    next run to start at half the batch and the last to say why (docs/decisions.md #83)."""

    def on_accepted(self, pid: int, time_accepted: float) -> None:
        self.oom_kills_before = oom_kills()
        super().on_accepted(pid, time_accepted)

    def on_failure(self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False) -> None:
        super().on_failure(exc_info, send_failed_event, return_ok)
        lost = getattr(exc_info.exception, "exc", exc_info.exception)  # unwrap ExceptionWithTraceback
        if not isinstance(lost, WorkerLostError) or self.worker_pid is None:
            return
        before, after = getattr(self, "oom_kills_before", None), oom_kills()
        oom_killed = before is not None and after is not None and after > before
        out_of_memory = oom_killed and "SIGKILL" in str(lost)
        try:  # the child signed the row with its pid (_run_job): its run, not a later one, is noted
            record_lost_run(
                catalog(), self.id, f"{self.hostname}:{self.worker_pid}", str(lost), out_of_memory
            )
        except Exception as exc:  # the reaper queues the job again all the same
            log.warning("job %s: could not note how its run was lost: %s", self.id, exc)


def _run_job(task: Task[Any, Any], job_id: str) -> str | None:
    """Every job task: run the job of that id (its row says which kind) on this worker. The
    message is acknowledged already: if the catalog cannot be reached even to claim the job
    (retries exhausted), send the task again later rather than strand the job as queued."""
    try:
        return run_job(catalog(), job_id, (task.request.hostname or "worker") + _child, KINDS)
    except (SQLAlchemyError, CatalogError) as exc:
        log.warning("job %s: the catalog is unreachable (%s); its task is sent again in 5 s", job_id, exc)
        raise task.retry(exc=exc, countdown=5, max_retries=None) from exc


for _kind in KINDS.values():  # one task per job kind, named workbench.<kind>
    app.task(name=_kind.task_name, bind=True, Request=_JobRequest)(_run_job)


@app.task(name=SCHEDULED_REPORTS[0])
def scheduled_reports(entry: dict[str, Any]) -> list[str]:
    """Sent by Celery beat (``workbench scheduler``): queue the report jobs of one schedule entry."""
    from workbench.schedule import ScheduleEntry, submit_entry

    return submit_entry(settings, ScheduleEntry.from_message(entry))


# -- the reaper: jobs whose worker vanished go back to their queue -----------------------------
_stop_reaper = threading.Event()


def reap_once() -> list[str]:
    """Queue again the jobs whose worker went silent, each sent before its row commits."""
    return requeue_stale_jobs(catalog(), send=_send_again)


def _send_again(job_id: str, kind: str) -> None:
    send(settings, KINDS[kind], job_id, retry=False)  # failing now keeps the job stale for next round


def _reaper_loop() -> None:
    while not _stop_reaper.wait(settings.jobs.stale_seconds / 2):
        try:
            reap_once()
        except Exception as exc:  # the database or broker may blip; try again next round
            log.warning("reaper round failed: %s", describe(exc) if isinstance(exc, SQLAlchemyError) else exc)


@worker_ready.connect
def _start_reaper(**_: object) -> None:
    threading.Thread(target=_reaper_loop, name="workbench-reaper", daemon=True).start()


@worker_ready.connect
def _serve_metrics(**_: object) -> None:
    """In the worker's main process: every child's counts, and the broker's queue lengths."""
    queues = {kind.queue for kind in KINDS.values()}
    if settings.metrics_port:
        metrics.start_at_zero(KINDS)
    try:
        metrics.serve(settings, [metrics.QueueCollector(settings.broker_url, queues)])
    except OSError as exc:  # the port is taken (another worker on this host): jobs still run
        log.error("metrics not served on port %s: %s", settings.metrics_port, exc)


@worker_shutdown.connect
def _stop(**_: object) -> None:
    _stop_reaper.set()
    metrics.forget()
