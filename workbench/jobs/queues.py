"""The Celery settings clients and workers share, and the app clients publish with.

Clients send tasks by name (``workbench.<kind>``, on the kind's queue; workbench never imports
``workers``); the workers' app registers one task per job kind under the same names.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from functools import cache
from typing import Any

from celery import Celery
from kombu import Connection, Queue

from workbench.config import Settings
from workbench.jobs.kind import QUEUES, TORCH_QUEUES, JobKind

log = logging.getLogger(__name__)
# Celery beat's task: submits the report jobs of one schedule entry (workbench.schedule).
SCHEDULED_REPORTS = ("workbench.scheduled_reports", "imagery")


def celery_config(settings: Settings, routes: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Celery settings for clients and workers alike; see docs/decisions.md on acknowledgement.
    ``routes``: task name -> queue, for tasks sent without naming their queue."""
    return {
        "broker_url": settings.broker_url,
        "task_serializer": "json",
        "accept_content": ["json"],  # never pickle: a message must not be able to run code
        "result_serializer": "json",
        "task_ignore_result": True,  # the jobs row, not Celery's result, holds state and results
        # Acknowledged when a task starts: a job can run for hours, longer than RabbitMQ lets a
        # delivery stay unacknowledged (consumer_timeout). Redelivery after a lost worker comes
        # from the jobs table (heartbeats and the reaper), which also counts deliveries.
        "task_acks_late": False,
        "worker_prefetch_multiplier": 1,
        "task_queues": [Queue(name, durable=True) for name in QUEUES],
        "task_default_queue": "imagery",
        "task_routes": {
            task: {"queue": queue} for task, queue in [*(routes or {}).items(), SCHEDULED_REPORTS]
        },
        "task_default_delivery_mode": "persistent",
        "broker_connection_retry_on_startup": True,
        "broker_heartbeat": 30,
        "worker_hijack_root_logger": False,
        # A prefork worker (the torch queues) gives each job a fresh child: what a job leaves
        # behind (torch, a model, a fragmented heap) goes with it. The threads pool ignores both.
        "worker_max_tasks_per_child": settings.jobs.max_tasks_per_child or None,
        "worker_max_memory_per_child": settings.jobs.max_memory_per_child_kib or None,
        "worker_send_task_events": True,  # flower shows tasks as they run
        "task_send_sent_event": True,
    }


def worker_pool(queues: str) -> str:
    """The Celery pool for a worker of ``queues`` (comma-separated); either way the worker's main
    process keeps answering the broker. Threads for imagery: a job forks its own process pool
    (ingest). Prefork for the torch queues alone: each job in a child replaced after it, so
    memory goes back and an out-of-memory kill takes the child, not the worker (decision #82);
    the parent never imports torch, so CUDA is first met in the child."""
    return "prefork" if set(queues.split(",")) <= set(TORCH_QUEUES) else "threads"


def send(settings: Settings, kind: JobKind[Any], job_id: str, *, retry: bool = True) -> None:
    """Publish the task that runs job ``job_id`` (the task id is the job id), on its kind's queue.
    ``retry``: try once more after a short wait; without it, fail at once."""
    client_app(settings.broker_url).send_task(
        kind.task_name, args=[job_id], task_id=job_id, queue=kind.queue,
        retry=retry, retry_policy={"max_retries": 1, "interval_start": 0.2},
    )  # fmt: skip


def queue_counts(connection: Connection, queue: str) -> tuple[int, int]:
    """A queue's waiting messages and consumers, by a passive declare (it changes nothing);
    (0, 0) for a queue not declared yet: nobody ever consumed it."""
    channel = connection.channel()
    try:
        _, waiting, consuming = channel.queue_declare(queue=queue, passive=True)
        return waiting, consuming
    except Exception:  # the broker closes the channel on an unknown queue
        return 0, 0
    finally:
        channel.close()


def consumers(settings: Settings, queue: str) -> int:
    """The workers consuming ``queue`` now; 0 when the broker cannot say (a hint, never an
    error: a fan-out then plans by its chunk size alone)."""
    try:
        with client_app(settings.broker_url).pool.acquire(block=True, timeout=5) as connection:
            return queue_counts(connection, queue)[1]
    except Exception as exc:
        log.warning("could not ask the broker for the consumers of %s: %s", queue, exc)
        return 0


@cache
def client_app(broker_url: str) -> Celery:
    """A Celery app used only to publish (one per broker URL, its connection pool reused)."""
    app = Celery("workbench-client", set_as_current=False)
    app.conf.update(celery_config(Settings(broker_url=broker_url)))
    return app
