"""Faults that go away: a requeue while the broker is down, connections cut under a running job.
The job finishes, once; nothing is stranded."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests import builders, services
from tests.conftest import FAST_JOBS as FAST
from tests.services import StartWorker
from workbench.api import Workbench
from workbench.jobs.queues import send
from workbench.jobs.reaper import requeue_stale_jobs
from workbench.kinds import load_kinds

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
APP = "workbench-cut-test"  # the worker's connections carry this name (libpq reads PGAPPNAME)


def test_a_requeue_while_the_broker_is_down_waits_for_it_instead_of_stranding_the_job(
    bench: Workbench, start_worker: StartWorker
) -> None:
    first = start_worker()
    job = bench.submit("ping", {"steps": 200, "seconds": 0.05})
    services.until(lambda: job.info().progress > 0, 60, "the job to run")
    first.kill()
    time.sleep(FAST.stale_seconds + 1)  # its heartbeat is now stale
    kinds = load_kinds()

    def resend(job_id: str, kind: str) -> None:
        send(bench.settings, kinds[kind], job_id, retry=False)

    with services.rabbit_app_stopped():
        assert requeue_stale_jobs(bench.catalog, resend) == []  # the send failed: not requeued
        assert job.info().state == "running"  # still stale, so the next round tries again
    assert requeue_stale_jobs(bench.catalog, resend) == [job.id]
    start_worker()
    info = job.wait(timeout=120)
    assert (info.state, info.deliveries) == ("succeeded", 2), info


@contextmanager
def cutting_connections(database_url: str, job_id: str) -> Iterator[list[int]]:
    """While the block runs, every few seconds: lock the job's row, so that the worker's next
    write of it (progress, heartbeat, a fenced write) waits mid-transaction, then
    ``pg_terminate_backend`` the worker's connections (``APP``) caught waiting, and let go.
    Yields the running count of connections cut."""
    admin = create_engine(database_url)
    cut: list[int] = [0]
    stop = threading.Event()

    def cut_forever() -> None:
        pause = 0.3
        while not stop.wait(pause):  # a cut now and then, as a network or a restart would
            pause = 2.0
            with admin.begin() as locking, admin.connect() as killing:
                locking.execute(text("SELECT 1 FROM jobs WHERE id = :id FOR UPDATE"), {"id": job_id})
                deadline = time.monotonic() + 5.0
                while time.monotonic() < deadline and not stop.is_set():
                    now = killing.execute(
                        text(
                            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                            "WHERE application_name = :app AND wait_event_type = 'Lock'"
                        ),
                        {"app": APP},
                    ).scalar_one()
                    killing.commit()
                    cut[0] += now
                    if now:
                        break  # released at once: the write tried again finds the row free
                    time.sleep(0.05)

    cutter = threading.Thread(target=cut_forever, daemon=True)
    cutter.start()
    try:
        yield cut
    finally:
        stop.set()
        cutter.join()
        admin.dispose()


def test_an_ingest_finishes_while_its_connections_are_cut(
    bench: Workbench, start_worker: StartWorker, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "digits", {str(d): 1000 for d in range(10)}, fmt="JPEG")
    start_worker(env={"PGAPPNAME": APP})
    job = bench.ingest_job(folder, "digits", processes=1)
    with cutting_connections(bench.settings.database_url, job.id) as cut:
        info = job.wait(timeout=300)
    assert (info.state, info.deliveries) == ("succeeded", 1), info.error
    assert cut[0] >= 1  # connections really were cut mid-statement while it ran
    assert bench.dataset("digits").count() == 10000


def test_a_training_finishes_while_its_connections_are_cut(
    bench: Workbench, start_worker: StartWorker, tmp_path: Path
) -> None:
    from workbench.demo import write_digits

    images, csv = write_digits(tmp_path / "digits")
    bench.ingest(images, "digits", labels_csv=csv, label_column="digit", split="0.8,0.1,0.1")
    start_worker(queues="training", env={"PGAPPNAME": APP})
    job = bench.train("digits", name="cut", epochs=3, image_size=16, hflip=False)
    with cutting_connections(bench.settings.database_url, job.id) as cut:
        info = job.wait(timeout=600)
    assert (info.state, info.deliveries) == ("succeeded", 1), info.error
    assert cut[0] >= 2 and [m["name"] for m in bench.models()] == ["cut"]
