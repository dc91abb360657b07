"""Jobs in the embedded default: no broker, a local worker process claims queued jobs rows.

The same lifecycle as on the services (submit, progress, abort), plus what the local worker must
survive: the client that started it going away, being killed mid-job, its database going away;
and what it must not cost while idle: polling hard, or holding what a torch job loaded.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from tests import builders, services
from tests.conftest import FAST_JOBS as FAST
from tests.conftest import POSTGRES_ADMIN_URL, _empty_tables
from workbench.api import Workbench
from workbench.config import Settings
from workbench.jobs.kind import JobParams, job_kind
from workbench.jobs.local import local_worker_pid
from workbench.jobs.runner import JobContext

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]


class NoParams(JobParams):
    pass


@job_kind("load_torch", queue="training", params=NoParams)
def load_torch(ctx: JobContext[NoParams]) -> dict[str, Any]:
    """What every torch job does first (this module is one the worker loads, as a deployment's)."""
    import torch

    torch.manual_seed(0)
    return {"pid": os.getpid(), "torch_mapped": torch_mapped(os.getpid())}


def torch_mapped(pid: int) -> bool:
    """Whether torch's shared library is in the process's memory."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def wakeups(pid: int) -> int:
    """Times the process's threads went to sleep of their own accord (waits, reads)."""
    total = 0
    for status in Path(f"/proc/{pid}/task").glob("*/status"):
        line = next(line for line in status.read_text().splitlines() if line.startswith("voluntary_ctxt"))
        total += int(line.split()[1])
    return total


@contextmanager
def local_worker_by_hand(settings: Settings, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m workbench.worker ARGS` holding the data directory's lock (submits wake it);
    killed afterwards."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env |= settings.environ() | {"PYTHONPATH": str(REPO)}
    with log.open("ab") as handle:
        worker = subprocess.Popen(
            [sys.executable, "-m", "workbench.worker", *args], env=env, stdout=handle,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    try:
        services.until(lambda: local_worker_pid(settings) == worker.pid or worker.poll() is not None, 60,
                       "the worker to take the lock")  # fmt: skip
        assert worker.poll() is None, log.read_text()[-3000:]
        yield worker
    finally:
        worker.kill()
        worker.wait(timeout=30)


@contextmanager
def database_refusing_connections(url: str) -> Iterator[None]:
    """The test database closed to new connections and its open ones cut: to its clients the
    server is down. Other databases on the server (other engineers' tests) see nothing."""
    name = make_url(url).database
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false'))
            connection.execute(
                text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = :name"),
                {"name": name},
            )
        yield
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true'))
        admin.dispose()


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Workbench]:
    settings = Settings(data_dir=tmp_path / "data", user="tester", jobs=FAST)
    bench = Workbench(settings)
    yield bench
    bench.close()
    services.kill_local_worker(settings)


def test_a_job_runs_on_the_local_worker_with_progress(embedded: Workbench) -> None:
    job = embedded.submit("ping", {"steps": 6, "seconds": 0.3})
    seen = set()
    while not (info := job.info()).finished:
        seen.add(round(info.progress, 3))
        time.sleep(0.03)
    assert info.state == "succeeded" and len(seen - {0.0, 1.0}) >= 3, seen
    assert info.worker and info.worker.startswith("local@")


def test_abort_stops_a_local_job(embedded: Workbench) -> None:
    job = embedded.submit("ping", {"steps": 200, "seconds": 0.1})
    services.until(lambda: job.info().progress > 0, 30, "progress")
    job.abort()
    info = job.wait(timeout=10)
    assert info.state == "aborted" and 0 < info.progress < 1


def test_a_forced_abort_ends_a_job_that_stopped_checking(embedded: Workbench) -> None:
    stuck = embedded.submit("ping", {"steps": 1, "seconds": 3})  # no check for 3 s
    services.until(lambda: stuck.info().state == "running", 30, "the job to start")
    stuck.abort(force=True)
    assert (stuck.info().state, stuck.info().message) == ("aborted", "aborted by force")
    after = embedded.submit("ping", {"steps": 1, "seconds": 0}).wait(timeout=30)
    assert after.state == "succeeded"  # the worker came back from the stuck job
    assert (stuck.info().state, stuck.info().message) == ("aborted", "aborted by force")


def test_a_local_ingest_job_ingests(embedded: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    info = embedded.ingest_job(folder, "pets").wait(timeout=60)
    assert info.state == "succeeded" and info.result and info.result["ingested"] == 5
    assert embedded.dataset("pets").labels() == {"cat": 3, "dog": 2}


def test_a_job_outlives_the_process_that_submitted_it(embedded: Workbench) -> None:
    # A kernel restart is its process ending: the job, on the local worker, goes on.
    script = (
        "import sys, workbench as wb\n"
        "from workbench.config import Settings, JobTimings\n"
        f"s = Settings(data_dir={str(embedded.settings.data_dir)!r}, user='tester', "
        "jobs=JobTimings(heartbeat_seconds=0.5, stale_seconds=3.0))\n"
        "print(wb.Workbench(s).submit('ping', {'steps': 10, 'seconds': 0.2}).id)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    job_id = done.stdout.strip()
    assert done.returncode == 0 and job_id, done.stderr
    assert embedded.job(job_id).wait(timeout=30).state == "succeeded"


def test_a_killed_local_worker_s_job_is_picked_up_again(embedded: Workbench) -> None:
    job = embedded.submit("ping", {"steps": 20, "seconds": 0.1})
    services.until(lambda: job.info().progress > 0, 30, "progress")
    services.kill_local_worker(embedded.settings)
    info = job.wait(timeout=60)  # waiting starts a new worker, whose reaper finds the stale job
    assert (info.state, info.deliveries) == ("succeeded", 2)


def test_the_cli_queues_follows_lists_and_aborts_jobs(embedded: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    queued = services.cli(embedded.settings, "ingest", str(folder), "--name", "pets", "--no-wait", "--json")
    assert queued.returncode == 0, queued.stderr
    job_id = json.loads(queued.stdout)["job"]
    followed = services.cli(embedded.settings, "job", job_id, "--wait", "--json")
    shown = json.loads(followed.stdout)
    assert (shown["state"], shown["progress"], shown["result"]["ingested"]) == ("succeeded", 1.0, 5)
    listed = json.loads(services.cli(embedded.settings, "jobs", "--json").stdout)
    assert [row["id"] for row in listed] == [job_id]
    assert services.cli(embedded.settings, "abort", job_id).returncode == 0  # finished: nothing to stop
    unknown = services.cli(embedded.settings, "abort", "no-such-job")
    assert unknown.returncode == 2 and unknown.stderr.count("\n") == 1 and "no job" in unknown.stderr


def test_an_idle_local_worker_sleeps_instead_of_polling(embedded: Workbench) -> None:
    assert embedded.submit("ping", {"steps": 0}).wait(timeout=60).state == "succeeded"
    pid = local_worker_pid(embedded.settings)
    assert pid is not None
    time.sleep(2)  # its waits have grown to their longest
    before = wakeups(pid)
    time.sleep(5)
    # It polled every 50 ms: at least a hundred sleeps in 5 s, fewer only if the machine is too
    # busy to keep up. It now waits on its doorbell up to a second at a time: a handful.
    assert wakeups(pid) - before < 25
    after = embedded.submit("ping", {"steps": 0}).wait(timeout=60)  # and a submit still wakes it
    assert after.state == "succeeded" and local_worker_pid(embedded.settings) == pid


def test_an_idle_worker_gives_back_what_a_torch_job_loaded(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path / "data", user="tester", jobs=FAST, job_modules=(__name__,))
    log = tmp_path / "worker.log"
    with Workbench(settings) as bench:
        bench.jobs()  # the catalog made first: two processes upgrading a new SQLite at once collide
        with local_worker_by_hand(settings, log, "--release-after", "1") as worker:
            assert not torch_mapped(worker.pid)  # nothing at start loads torch
            info = bench.submit("load_torch").wait(timeout=120)
            assert info.state == "succeeded", info
            assert info.result == {"pid": worker.pid, "torch_mapped": True}
            services.until(lambda: not torch_mapped(worker.pid), 120, "the idle worker to let torch go")
            # The same process (the lock never left it) started afresh, and runs the next job.
            assert worker.poll() is None and local_worker_pid(settings) == worker.pid
            after = bench.submit("ping", {"steps": 0}).wait(timeout=60)
            assert (after.state, after.worker) == ("succeeded", info.worker)
            assert "starting afresh" in log.read_text()


@pytest.mark.postgres
def test_the_local_worker_rides_out_a_database_outage(postgres_url: str, tmp_path: Path) -> None:
    _empty_tables(postgres_url)
    settings = Settings(data_dir=tmp_path / "data", database_url=postgres_url, user="tester", jobs=FAST)
    log = settings.data_dir / "local-worker.log"
    try:
        with Workbench(settings) as bench:
            job = bench.submit("ping", {"steps": 20, "seconds": 0.25})
            services.until(lambda: job.info().progress > 0, 60, "progress")
            pid = local_worker_pid(settings)
            with database_refusing_connections(postgres_url):  # the job's next write fails
                services.until(lambda: "unreachable" in log.read_text(), 60, "the worker to notice")
                time.sleep(2)  # a few tries against the closed database
            info = job.wait(timeout=60)  # cut short, it is queued again and run to the end
            assert (info.state, info.deliveries) == ("succeeded", 2), info
            # by the same worker: it kept its lock, nothing had to start another
            assert local_worker_pid(settings) == pid and info.worker and info.worker.endswith(f":{pid}")
            assert log.read_text().count("unreachable") == 1
    finally:
        services.kill_local_worker(settings)
