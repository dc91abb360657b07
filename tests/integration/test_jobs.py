"""Jobs on the real services: Postgres for the jobs rows, RabbitMQ to carry them, Redis for live
progress, and real Celery workers in their own processes, killed and restarted on purpose.

Each test gets a throwaway RabbitMQ vhost, an emptied Postgres database and a Redis database of
its own; tests that stop the broker or change its settings restore them even when they fail.
"""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from tests import builders, services
from tests.conftest import FAST_JOBS as FAST
from workbench.api import Workbench
from workbench.errors import JobError
from workbench.jobs import Job

pytestmark = [pytest.mark.postgres, pytest.mark.slow]


def test_progress_is_seen_at_several_values_then_the_job_succeeds(bench: Workbench, start_worker) -> None:
    start_worker()
    job = bench.submit("ping", {"steps": 6, "seconds": 0.3})
    seen = set()
    while not (info := job.info()).finished:
        seen.add(round(info.progress, 3))
        time.sleep(0.03)
    assert info.state == "succeeded" and info.progress == 1.0
    assert len(seen - {0.0, 1.0}) >= 3, seen
    assert info.deliveries == 1 and info.result == {"steps": 6, "worker": info.worker}


def test_abort_mid_job_ends_it_aborted_within_two_intervals(bench: Workbench, start_worker) -> None:
    start_worker()
    job = bench.submit("ping", {"steps": 200, "seconds": 0.1})
    services.until(lambda: job.info().progress > 0, 30, "the job to make progress")
    asked = time.monotonic()
    job.abort()
    info = job.wait(timeout=30)
    assert info.state == "aborted", info
    assert time.monotonic() - asked < 2 * max(0.1, FAST.heartbeat_seconds) + 1.0
    assert 0 < info.progress < 1


def test_a_job_aborted_while_queued_never_runs(bench: Workbench, start_worker) -> None:
    job = bench.submit("ping", {"steps": 1, "seconds": 0})
    job.abort()  # no worker yet: the message waits in the queue
    assert job.state == "aborted"
    start_worker()
    follow_up = bench.submit("ping", {"steps": 1, "seconds": 0})
    assert follow_up.wait(timeout=30).state == "succeeded"  # the worker has seen the first message
    info = job.info()
    assert (info.state, info.deliveries, info.started_at) == ("aborted", 0, None)


def test_a_killed_worker_s_ingest_is_finished_by_a_new_worker_exactly_once(
    bench: Workbench, start_worker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "digits", {str(d): 800 for d in range(10)})
    first = start_worker()
    # One process (chunk over the file count): test_fanout.py kills the worker of a chunk.
    job = bench.submit("ingest", {"path": str(folder), "name": "digits", "processes": 1, "chunk": 10_000})
    services.until(lambda: 0 < job.info().progress < 0.5, 60, "the ingest to be part way")
    first.kill()
    assert job.state == "running"  # as far as the row knows: its heartbeat just stopped
    start_worker()
    info = job.wait(timeout=120)
    assert info.state == "succeeded", info
    assert info.deliveries == 2
    assert bench.dataset("digits").count() == 8000
    assert bench.dataset("digits").labels() == {str(d): 800 for d in range(10)}


def test_a_job_that_keeps_losing_its_worker_fails_instead_of_looping(bench: Workbench, start_worker) -> None:
    job = bench.submit("ping", {"steps": 1000, "seconds": 0.05})
    for delivery in range(1, FAST.max_deliveries + 1):
        worker = start_worker()
        services.until(
            lambda n=delivery: (i := job.info()).state == "running" and i.deliveries == n, 60, "a run"
        )
        time.sleep(0.3)
        worker.kill()
    start_worker()
    info = job.wait(timeout=60)
    assert info.state == "failed"
    assert f"started {FAST.max_deliveries} times without finishing" in (info.error or "")


def test_jobs_queued_while_rabbitmq_restarts_are_not_lost(bench: Workbench, start_worker) -> None:
    worker = start_worker()
    jobs = [bench.submit("ping", {"steps": 2, "seconds": 0.2}) for _ in range(8)]
    with services.rabbit_app_stopped():
        time.sleep(2)
    for job in jobs:
        assert job.wait(timeout=120).state == "succeeded", job.info()
    assert worker.alive  # it reconnected by itself
    assert bench.submit("ping", {"steps": 1, "seconds": 0}).wait(timeout=60).state == "succeeded"


def test_submitting_while_the_broker_is_down_says_so_and_leaves_no_row(bench: Workbench) -> None:
    with services.rabbit_app_stopped():
        started = time.monotonic()
        with pytest.raises(JobError, match="is RabbitMQ running"):
            bench.submit("ping", {"steps": 1})
        assert time.monotonic() - started < 30
    assert bench.jobs() == []


def test_redis_flushed_mid_job_loses_only_live_progress(bench: Workbench, start_worker) -> None:
    start_worker()
    job = bench.submit("ping", {"steps": 10, "seconds": 0.2})
    services.until(lambda: job.info().progress > 0, 30, "live progress")
    services.flush_test_redis()
    info = job.wait(timeout=60)
    assert (info.state, info.progress, info.message) == ("succeeded", 1.0, "step 10 of 10")


def test_a_job_longer_than_the_consumer_timeout_completes_once(bench: Workbench, start_worker) -> None:
    # RabbitMQ closes a channel whose delivery stays unacknowledged past consumer_timeout (checked
    # every channel tick). With both shortened, a job running for several timeouts must still end
    # once, on a worker that stays up: tasks are acknowledged when they start.
    with (
        services.rabbit_setting("consumer_timeout", "2000"),
        services.rabbit_setting("channel_tick_interval", "500"),
    ):
        worker = start_worker()  # its channel opens with the short tick
        job = bench.submit("ping", {"steps": 16, "seconds": 0.5})
        info = job.wait(timeout=60)
        assert (info.state, info.deliveries) == ("succeeded", 1)
        assert worker.alive, worker.log.read_text()[-2000:]
        assert "PreconditionFailed" not in worker.log.read_text()
        assert bench.submit("ping", {"steps": 1, "seconds": 0}).wait(timeout=30).state == "succeeded"


def test_a_new_kernel_finds_the_job_and_its_widget_follows_it(bench: Workbench, start_worker) -> None:
    from workbench.jobs.widget import JobWidget

    start_worker()
    job = bench.submit("ping", {"steps": 3, "seconds": 0.2})
    elsewhere = Workbench(bench.settings)  # another process would do the same: only the id travels
    try:
        found: Job = elsewhere.job(job.id)
        widget = JobWidget(found)
        found.wait(timeout=30)
        widget.render(found.info())
        assert "succeeded" in widget.title.value and widget.bar.value == 1.0
        assert widget.abort_button.disabled
    finally:
        elsewhere.close()


def test_the_cli_ingests_through_the_imagery_worker(bench: Workbench, start_worker, tmp_path: Path) -> None:
    start_worker()
    folder = builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    done = services.cli(bench.settings, "ingest", str(folder), "--name", "pets", "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["ingested"] == 5
    assert [job.kind for job in bench.jobs()] == ["ingest"]
    hostile = builders.traversal_zip(tmp_path / "evil.zip", "../escape.png")
    refused = services.cli(bench.settings, "ingest", str(hostile), "--name", "evil")
    assert refused.returncode == 2 and refused.stderr.count("\n") == 1
    assert "../escape.png" in refused.stderr and "Traceback" not in refused.stderr


def test_a_killed_torch_worker_s_training_resumes_on_another_worker(
    bench: Workbench, start_worker, tmp_path: Path
) -> None:
    from workbench.demo import write_digits

    images, csv = write_digits(tmp_path / "digits")
    bench.ingest(images, "digits", labels_csv=csv, label_column="digit", split="0.8,0.1,0.1")
    first = start_worker(queues="training")
    job = bench.train("digits", name="resumed", epochs=10, image_size=16, hflip=False)
    checkpoint = bench.settings.data_dir / "models" / job.id / "checkpoints" / "last.ckpt"
    services.until(
        lambda: checkpoint.exists() and job.info().progress < 0.7, 300, "a checkpoint mid-training"
    )
    first.kill()
    start_worker(queues="training")
    info = job.wait(timeout=600)
    assert (info.state, info.deliveries) == ("succeeded", 2), info
    assert [m["name"] for m in bench.models()] == ["resumed"]
    epochs = [p["epoch"] for p in info.metrics["curves"]["epochs"]]
    assert epochs[-1] == 10 and epochs.count(1) == 1  # resumed, not started over


def test_two_workers_started_on_one_host_sign_their_jobs_apart(bench: Workbench, start_worker) -> None:
    # As `workbench worker --queues imagery` twice on one machine: both were "imagery@<host>".
    workers = [start_worker(cli=True), start_worker(cli=True)]
    jobs = [bench.submit("ping", {"steps": 2, "seconds": 0.5}) for _ in range(4)]
    signed = {job.wait(timeout=60).worker for job in jobs}
    host = socket.gethostname()
    assert signed == {worker.name.replace("%h", host) for worker in workers}, signed
    assert all(name.startswith("imagery-") for name in signed)
