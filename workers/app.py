"""The Celery app: ``celery -A workers.app worker -Q imagery`` (or ``workbench worker``).

Every task takes only a job id and runs that job through ``workbench.jobs.runner``: the jobs row
holds the parameters, the state and the result. Tasks are acknowledged when they start, so hours
of training never hold a delivery open past RabbitMQ's consumer_timeout; a worker that vanishes
mid-job is noticed by its silent heartbeat, and the reaper here queues the job again
(docs/decisions.md).
"""

from __future__ import annotations

import logging
import threading

from celery import Celery
from celery.signals import worker_ready, worker_shutdown

from workbench.catalog import Catalog
from workbench.catalog.models import Job as JobRow
from workbench.config import Settings
from workbench.jobs.kinds import KINDS
from workbench.jobs.queues import SCHEDULED_REPORTS, TASKS, celery_config, client_app
from workbench.jobs.reaper import requeue_stale_jobs
from workbench.jobs.runner import run_job

log = logging.getLogger(__name__)
settings = Settings.from_env()
app = Celery("workbench")
app.conf.update(celery_config(settings))
_catalog: Catalog | None = None


def catalog() -> Catalog:
    """One catalog (engine, pool) per worker process, made on first use, after any fork."""
    global _catalog
    if _catalog is None:
        _catalog = Catalog(settings)
    return _catalog


def _run(task_request_hostname: str, job_id: str) -> str | None:
    return run_job(catalog(), job_id, task_request_hostname or "worker", KINDS)


@app.task(name="workbench.ping", bind=True)
def ping(self, job_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return _run(self.request.hostname, job_id)


@app.task(name="workbench.ingest", bind=True)
def ingest(self, job_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return _run(self.request.hostname, job_id)


@app.task(name="workbench.augment", bind=True)
def augment(self, job_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return _run(self.request.hostname, job_id)


@app.task(name="workbench.train", bind=True)
def train(self, job_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return _run(self.request.hostname, job_id)


@app.task(name="workbench.predict", bind=True)
def predict(self, job_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return _run(self.request.hostname, job_id)


@app.task(name="workbench.evaluate", bind=True)
def evaluate(self, job_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return _run(self.request.hostname, job_id)


@app.task(name="workbench.report", bind=True)
def report(self, job_id: str) -> str | None:  # type: ignore[no-untyped-def]
    return _run(self.request.hostname, job_id)


@app.task(name=SCHEDULED_REPORTS[0])
def scheduled_reports(entry: dict) -> list[str]:  # type: ignore[type-arg]
    """Sent by Celery beat (``workbench scheduler``): queue the report jobs of one schedule entry."""
    from workbench.schedule import ScheduleEntry, submit_entry

    return submit_entry(settings, ScheduleEntry.from_message(entry))


assert {task for task, _ in TASKS.values()} <= set(app.tasks), "every job kind needs its task"

# -- the reaper: jobs whose worker vanished go back to their queue -----------------------------
_stop_reaper = threading.Event()


def reap_once() -> list[str]:
    requeued = requeue_stale_jobs(catalog())
    for job_id in requeued:
        with catalog().sessions() as session:
            kind = session.get_one(JobRow, job_id).kind
        task, queue = TASKS[kind]
        client_app(settings.broker_url).send_task(task, args=[job_id], task_id=job_id, queue=queue)
    return requeued


def _reaper_loop() -> None:
    while not _stop_reaper.wait(settings.jobs.stale_seconds / 2):
        try:
            reap_once()
        except Exception as exc:  # the database or broker may blip; try again next round
            log.warning("reaper round failed: %s", exc)


@worker_ready.connect
def _start_reaper(**_: object) -> None:
    threading.Thread(target=_reaper_loop, name="workbench-reaper", daemon=True).start()


@worker_shutdown.connect
def _stop(**_: object) -> None:
    _stop_reaper.set()
