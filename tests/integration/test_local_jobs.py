"""Jobs in the embedded default: no broker, a local worker process claims queued jobs rows.

The same lifecycle as on the services (submit, progress, abort), plus what the local worker must
survive: the client that started it going away, and being killed mid-job.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import builders, services
from tests.conftest import FAST_JOBS as FAST
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow


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
