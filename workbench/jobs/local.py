"""The embedded default's worker: a process beside the notebook that claims queued jobs rows.

No broker: the jobs table is the queue (an atomic update claims a row), so a killed worker loses
nothing (its job goes stale and is queued again), and nothing is read half-written. One worker
per data directory, held by a file lock; a submit starts one when none holds it, in a session of
its own, so it outlives the kernel that started it, and rings its doorbell when one runs.

Idle, it stays light: it waits on the doorbell with a timeout that grows to a second instead of
polling the table 20 times a second, and a minute after a job that left it heavy (torch, a model)
it replaces itself by a fresh process, same pid, lock held throughout. A database that drops its
connections or restarts costs a logged line and retries, not the worker. See docs/decisions.md.

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
from typing import IO, Any, NoReturn

from sqlalchemy import select
from sqlalchemy.exc import DisconnectionError, InterfaceError, OperationalError

from workbench.catalog import Catalog
from workbench.catalog.models import Job as JobRow
from workbench.config import Settings
from workbench.jobs.doorbell import Doorbell, ring
from workbench.jobs.kind import JobKind
from workbench.jobs.reaper import requeue_stale_jobs
from workbench.jobs.records import QUEUED
from workbench.jobs.runner import run_job

log = logging.getLogger(__name__)
POLL_SECONDS = 0.05  # the first look after a job: another may be queued right behind it
IDLE_POLL_SECONDS = 1.0  # idle, the wait doubles up to this; a submit on this machine rings at once
IDLE_EXIT_SECONDS = 30 * 60  # an auto-started worker leaves after half an hour with nothing to do
RELEASE_SECONDS = 60.0  # idle this long after a job that left it heavy, it starts afresh
MEMORY_BUDGET = 200 * 2**20  # "heavy": resident above this (a fresh worker holds ~110 MB)
HEAVY_MODULES = ("torch", "onnxruntime")  # "heavy" too once imported (and where /proc is missing)
OUTAGE_MAX_SECONDS = 15.0  # the longest wait between tries while the database is unreachable
# A dropped connection, a server restarting or refusing connections, SQLite's busy lock: all pass.
DATABASE_ERRORS = (OperationalError, InterfaceError, DisconnectionError)
_LOCK_FD = "WORKBENCH_LOCAL_WORKER_LOCK_FD"  # the lock a starting worker inherits, already held
ENTRY_POINT = "workbench.worker"  # the module that loads the job kinds and runs the loop below


def _lock_path(settings: Settings) -> Path:
    return settings.data_dir / "local-worker.lock"


def doorbell_path(settings: Settings) -> Path:
    return settings.data_dir / "local-worker.wake"


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
    """Start the local worker for this data directory unless one is running; wake it if it is.

    The lock is taken here and handed to the child as an inherited descriptor, so there is no
    moment when it is free between the check and the worker's start (two quick submits would
    otherwise start two workers, and a test that stops one could leave the other behind).
    """
    lock = _try_lock(settings)
    if lock is None:
        ring(doorbell_path(settings))  # a job was just queued: look now, not at the next timeout
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
    settings: Settings,
    kinds: Mapping[str, JobKind[Any]],
    *,
    idle_exit: float | None = None,
    release_after: float = RELEASE_SECONDS,
) -> None:
    """Claim and run queued jobs until stopped (or idle for ``idle_exit`` seconds); start afresh
    when idle for ``release_after`` seconds after a job that left this process heavy."""
    inherited = os.environ.pop(_LOCK_FD, None)
    lock = os.fdopen(int(inherited), "a+") if inherited else _try_lock(settings)
    if lock is None:
        log.info("a local worker already runs for %s", settings.data_dir)
        return
    _write_pid(lock, os.getpid())
    loop = _Loop(settings, kinds, lock, idle_exit, release_after)
    try:
        loop.run()
    finally:
        loop.close()
        lock.close()


class _Loop:
    """Look for a queued job, run it, wait on the doorbell; again until idle long enough."""

    def __init__(
        self, settings: Settings, kinds: Mapping[str, JobKind[Any]], lock: IO[str],
        idle_exit: float | None, release_after: float,
    ) -> None:  # fmt: skip
        self.settings, self.kinds, self.lock = settings, kinds, lock
        self.idle_exit, self.release_after = idle_exit, release_after
        self.name = f"local@{socket.gethostname()}:{os.getpid()}"
        self.catalog = Catalog(settings, service=True)  # acts as each job's owner
        self.doorbell = Doorbell(doorbell_path(settings))
        self.outage = _Outage()
        # Heavy before any job (a deployment's kind module imports torch): starting afresh would
        # not make it lighter, only loop.
        self.may_release = not _heavy()
        self.ran_a_job = False
        self.idle_since = time.monotonic()
        self.next_reap = 0.0

    def run(self) -> None:
        log.info("%s ready for %s", self.name, self.settings.catalog_url)
        wait = POLL_SECONDS
        while True:
            try:
                ran = self._run_next()
            except DATABASE_ERRORS as exc:  # the lock stays ours; a job cut short goes stale
                if self._idle_for_good():  # a database gone for good does not keep it forever
                    return
                time.sleep(self.outage.failed(exc))
                continue
            if ran:
                wait = POLL_SECONDS
                continue
            if self._idle_for_good():
                return
            idle = time.monotonic() - self.idle_since
            if self.ran_a_job and self.may_release and idle >= self.release_after and _heavy():
                self._start_afresh(idle)
            self.doorbell.wait(wait)
            wait = min(wait * 2, IDLE_POLL_SECONDS)

    def _run_next(self) -> bool:
        """Reap stale jobs when due, then run the oldest queued job; False when there was none."""
        if time.monotonic() >= self.next_reap:
            requeue_stale_jobs(self.catalog)
            self.next_reap = time.monotonic() + self.settings.jobs.stale_seconds / 2
        job_id = _next_queued(self.catalog)
        self.outage.over()
        if job_id is None:
            return False
        self.ran_a_job = True
        try:
            run_job(self.catalog, job_id, self.name, self.kinds)
        finally:
            self.idle_since = time.monotonic()
        return True

    def _idle_for_good(self) -> bool:
        return self.idle_exit is not None and time.monotonic() - self.idle_since > self.idle_exit

    def _start_afresh(self, idle: float) -> NoReturn:
        """Replace this process by a new worker: same pid, the lock handed over, and what its jobs
        loaded (torch, a model, a fragmented heap) given back to the system."""
        resident = _resident_bytes()
        log.info("%s idle for %.0f s holding %s MB: starting afresh", self.name, idle,
                 "?" if resident is None else resident // 2**20)  # fmt: skip
        args = ["--release-after", str(self.release_after)]
        if self.idle_exit is not None:  # the idle time so far still counts
            args += ["--idle-exit", str(max(self.idle_exit - idle, 0.0))]
        env = {**os.environ, **self.settings.environ(), _LOCK_FD: str(self.lock.fileno())}
        self.close()
        os.set_inheritable(self.lock.fileno(), True)
        logging.shutdown()
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(sys.executable, [sys.executable, "-m", ENTRY_POINT, *args], env)

    def close(self) -> None:
        self.doorbell.close()
        self.catalog.dispose()


class _Outage:
    """The database unreachable: a line when it starts and when it ends, and waits that double."""

    def __init__(self) -> None:
        self.since: float | None = None
        self.delay = 0.0

    def failed(self, exc: Exception) -> float:
        """The seconds to wait before the next try."""
        if self.since is None:
            self.since, self.delay = time.monotonic(), 0.5
            reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["?"])[0]
            log.warning("the catalog database is unreachable (%s: %s); retrying, the lock kept",
                        type(exc).__name__, reason)  # fmt: skip
        else:
            self.delay = min(self.delay * 2, OUTAGE_MAX_SECONDS)
        return self.delay

    def over(self) -> None:
        if self.since is not None:
            log.info("the catalog database is back after %.0f s", time.monotonic() - self.since)
            self.since = None


def _resident_bytes() -> int | None:
    """This process's resident memory, where /proc tells it (Linux); None elsewhere."""
    try:
        return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return None


def _heavy() -> bool:
    resident = _resident_bytes()
    return (resident is not None and resident > MEMORY_BUDGET) or any(
        name in sys.modules for name in HEAVY_MODULES
    )


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
