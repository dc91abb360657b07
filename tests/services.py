"""The real RabbitMQ, Redis and Celery workers for job tests: throwaway vhosts, worker processes,
broker settings changed for a test and always restored; and the helpers job tests share."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import redis

from workbench.config import Settings
from workbench.jobs.local import local_worker_pid
from workbench.jobs.queues import worker_pool

RABBITMQ_HOST = os.environ.get("WORKBENCH_TEST_RABBITMQ", "guest:guest@127.0.0.1:5672")
REDIS_URL = os.environ.get("WORKBENCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/13")  # a DB for tests
REPO = Path(__file__).resolve().parents[1]


def rabbitmqctl(*args: str, timeout: float = 60) -> str:
    done = subprocess.run(
        ["rabbitmqctl", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"rabbitmqctl {' '.join(args)} failed: {done.stderr.strip() or done.stdout}")
    return done.stdout


@contextmanager
def throwaway_vhost() -> Iterator[str]:
    """A RabbitMQ virtual host of our own (its queues vanish with it); yields the broker URL."""
    name = f"workbench_test_{uuid.uuid4().hex[:10]}"
    rabbitmqctl("add_vhost", name)
    try:
        rabbitmqctl("set_permissions", "-p", name, "guest", ".*", ".*", ".*")
        yield f"amqp://{RABBITMQ_HOST}/{name}"
    finally:
        rabbitmqctl("delete_vhost", name)


def check_redis() -> None:
    redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2).ping()


def flush_test_redis() -> None:
    redis.Redis.from_url(REDIS_URL).flushdb()


def rabbit_env(key: str) -> str:
    """The broker's current value of a rabbit application setting, as Erlang prints it."""
    return rabbitmqctl("eval", f"application:get_env(rabbit, {key}).").strip()


@contextmanager
def rabbit_setting(key: str, value: str) -> Iterator[None]:
    """Set a rabbit application setting for the duration, restoring the old value (or its
    absence) afterwards, whatever happens."""
    before = rabbit_env(key)
    rabbitmqctl("eval", f"application:set_env(rabbit, {key}, {value}).")
    try:
        yield
    finally:
        if before.startswith("{ok,"):
            rabbitmqctl("eval", f"application:set_env(rabbit, {key}, {before[4:-1]}).")
        else:
            rabbitmqctl("eval", f"application:unset_env(rabbit, {key}).")


@contextmanager
def rabbit_app_stopped() -> Iterator[None]:
    """The RabbitMQ application stopped (the node stays up); started again whatever happens."""
    rabbitmqctl("stop_app")
    try:
        yield
    finally:
        rabbitmqctl("start_app")
        rabbitmqctl("await_startup")


class Worker:
    """A real Celery worker in its own process group, as `workbench worker` starts it (its pool
    too), or started by `workbench worker` itself (``cli=True``, under the name it gives)."""

    def __init__(
        self, settings: Settings, log: Path, queues: str = "imagery", concurrency: int = 1,
        cli: bool = False, env: dict[str, str] | None = None, preexec: Callable[[], None] | None = None,
    ) -> None:  # fmt: skip
        self.log = log
        environment = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
        environment.update(settings.environ(), **(env or {}))
        environment["PYTHONPATH"] = str(REPO)
        self.name = f"test-{uuid.uuid4().hex[:6]}@%h"
        command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queues, "-P",
                   worker_pool(queues), "-c", str(concurrency), "-n", self.name, "--loglevel", "INFO",
                   "--without-mingle", "--without-gossip"]  # fmt: skip
        if cli:
            command = [sys.executable, "-m", "workbench.cli", "worker", "--queues", queues,
                       "--concurrency", str(concurrency)]  # fmt: skip
        self._log_handle = open(log, "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            command, env=environment, cwd=REPO, stdout=self._log_handle, stderr=subprocess.STDOUT,
            start_new_session=True, preexec_fn=preexec,  # e.g. join a memory cgroup
        )  # fmt: skip
        if cli:  # the command execs Celery, which keeps its process id
            self.name = f"{queues.split(',')[0]}-{self.process.pid}@%h"
        self._wait_ready()

    def _wait_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker exited at start:\n{self.log.read_text()[-3000:]}")
            if b" ready." in self.log.read_bytes():
                return
            time.sleep(0.1)
        raise RuntimeError(f"worker not ready after {timeout} s:\n{self.log.read_text()[-3000:]}")

    @property
    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        """SIGKILL the worker and everything it started: a crash, not a shutdown."""
        if self.alive:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=30)

    def pause(self) -> None:
        """SIGSTOP the worker and its children: a stall (swapped out, frozen VM), not a crash."""
        os.killpg(self.process.pid, signal.SIGSTOP)

    def resume(self) -> None:
        os.killpg(self.process.pid, signal.SIGCONT)

    def returned(self, job_id: str) -> bool:
        """Whether this worker's run of the job's task has returned (Celery logs it)."""
        return f"[{job_id}] succeeded" in self.log.read_text(errors="replace")

    def stop(self) -> None:
        if self.alive:
            self.resume()  # a stopped process cannot act on SIGTERM
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self._log_handle.close()


StartWorker = Callable[..., Worker]  # the start_worker fixture (tests/conftest.py)


def until(condition: Callable[[], object], timeout: float, what: str) -> object:
    """Poll ``condition`` until it is truthy (its value is returned); fail the test after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(0.02)
    pytest.fail(f"not within {timeout} s: {what}")


def kill_local_worker(settings: Settings) -> None:
    """SIGKILL the embedded local worker of ``settings`` (if one runs) and wait until it is gone."""
    pid = local_worker_pid(settings)
    if pid is not None:
        with contextlib.suppress(ProcessLookupError):  # it may have left by itself meanwhile
            os.kill(pid, signal.SIGKILL)
        until(lambda: local_worker_pid(settings) is None, 30, "the local worker to go")


def queue_around_the_client(bench: Any, kind: str, params: dict[str, Any]) -> Any:
    """A jobs row written straight into the catalog, as no client would: the worker must check its
    parameters itself (the row is its input). Embedded only: the local worker claims it."""
    from workbench.catalog.models import Job as JobRow
    from workbench.jobs.local import ensure_local_worker

    job_id = uuid.uuid4().hex
    with bench.catalog.transaction() as session:
        session.add(JobRow(id=job_id, owner=bench.catalog.user, kind=kind, params=params))
    ensure_local_worker(bench.settings)
    return bench.job(job_id)


def cli(
    settings: Settings, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """The ``workbench`` command run as a subprocess with ``settings`` in its environment, and
    ``env`` over them (values no Settings object would accept, such as a too long user)."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    environ.update(settings.environ())
    environ.update(env or {})
    command = [sys.executable, "-m", "workbench.cli", *args]
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=300)
