"""The embedded default's worker: a process beside the notebook that claims queued jobs rows.

No broker: the jobs table is the queue (an atomic update claims a row), so a killed worker loses
nothing (its job goes stale and is queued again), and nothing is read half-written. One worker
per data directory, held by a file lock; a submit starts one when none holds it, in a session of
its own, so it outlives the kernel that started it. See docs/decisions.md.

Run it by hand with ``workbench worker`` (no broker configured) or ``python -m workbench.worker``,
the entry point that loads every job kind (this package knows none of them).
"""

from __future__ import annotations

import fcntl
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from sqlalchemy import select

from workbench.catalog import Catalog
from workbench.catalog.models import Job as JobRow
from workbench.config import Settings
from workbench.jobs.kind import JobKind
from workbench.jobs.reaper import requeue_stale_jobs
from workbench.jobs.records import QUEUED
from workbench.jobs.runner import run_job

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # idle polling of the jobs table: one indexed query, 20 a second
IDLE_EXIT_SECONDS = 30 * 60  # an auto-started worker leaves after half an hour with nothing to do
_LOCK_FD = "WORKBENCH_LOCAL_WORKER_LOCK_FD"  # the lock a starting worker inherits, already held
ENTRY_POINT = "workbench.worker"  # the module that loads the job kinds and runs the loop below


def _lock_path(settings: Settings) -> Path:
    return settings.data_dir / "local-worker.lock"


def _try_lock(settings: Settings) -> IO[str] | None:
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    handle = open(_lock_path(settings), "a+")  # noqa: SIM115 - held for the worker's lifetime
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        return None
    return handle


def local_worker_running(settings: Settings) -> bool:
    lock = _try_lock(settings)
    if lock is None:
        return True
    lock.close()
    return False


def local_worker_pid(settings: Settings) -> int | None:
    """The running local worker's process id, or None when none runs."""
    if not local_worker_running(settings):
        return None
    text = _lock_path(settings).read_text().strip()
    return int(text) if text.isdigit() else None


def ensure_local_worker(settings: Settings) -> None:
    """Start the local worker for this data directory unless one is running.

    The lock is taken here and handed to the child as an inherited descriptor, so there is no
    moment when it is free between the check and the worker's start (two quick submits would
    otherwise start two workers, and a test that stops one could leave the other behind).
    """
    lock = _try_lock(settings)
    if lock is None:
        return
    with lock, open(settings.data_dir / "local-worker.log", "ab") as log_file:
        env = {**os.environ, **settings.environ(), _LOCK_FD: str(lock.fileno())}
        child = subprocess.Popen(
            [sys.executable, "-m", ENTRY_POINT, "--idle-exit"],
            env=env, stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
            pass_fds=(lock.fileno(),),
            start_new_session=True,  # not in the kernel's process group: survives its restart
        )  # fmt: skip
        _write_pid(lock, child.pid)


def run_local_worker(
    settings: Settings, kinds: Mapping[str, JobKind[Any]], *, idle_exit: float | None = None
) -> None:
    """Claim and run queued jobs until stopped (or idle for ``idle_exit`` seconds)."""
    inherited = os.environ.pop(_LOCK_FD, None)
    lock = os.fdopen(int(inherited), "a+") if inherited else _try_lock(settings)
    if lock is None:
        log.info("a local worker already runs for %s", settings.data_dir)
        return
    _write_pid(lock, os.getpid())
    name = f"local@{socket.gethostname()}:{os.getpid()}"
    catalog = Catalog(settings)
    idle_since = time.monotonic()
    next_reap = 0.0
    log.info("%s ready for %s", name, settings.catalog_url)
    try:
        while True:
            if time.monotonic() >= next_reap:
                requeue_stale_jobs(catalog)
                next_reap = time.monotonic() + settings.jobs.stale_seconds / 2
            job_id = _next_queued(catalog)
            if job_id is None:
                if idle_exit is not None and time.monotonic() - idle_since > idle_exit:
                    return
                time.sleep(POLL_SECONDS)
                continue
            run_job(catalog, job_id, name, kinds)
            idle_since = time.monotonic()
    finally:
        catalog.dispose()
        lock.close()


def _write_pid(lock: IO[str], pid: int) -> None:
    """Who holds the lock, for a person (or a test) looking."""
    lock.seek(0)
    lock.truncate()
    lock.write(f"{pid}\n")
    lock.flush()


def _next_queued(catalog: Catalog) -> str | None:
    with catalog.sessions() as session:
        query = select(JobRow.id).where(JobRow.state == QUEUED).order_by(JobRow.created_at, JobRow.id)
        return session.scalars(query.limit(1)).first()
