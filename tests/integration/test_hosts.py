"""Several hosts, for real (tests/hosts.py): four network namespaces, each with its own data
directory and none of the others' (they are covered by an empty tmpfs in its mount namespace),
reaching Postgres, RabbitMQ, Redis and SeaweedFS only over a bridge. Workers are started there as
a person starts them, ``workbench worker``.

Host A ingests a zip that only A has; host B trains and is killed, namespace and all, mid-training;
host D resumes from the checkpoint B left in the object store; the predict of the whole dataset
fans out over C and D (both take chunks); A makes a report whose HTML is read back from the store.
One model row, and every prediction exactly once.
"""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from sqlalchemy import func, select

from tests import builders, services
from tests.conftest import FAST_JOBS, throwaway_postgres_database
from tests.hosts import GATEWAY, Host, Network, namespace_hosts
from workbench.api import Workbench
from workbench.catalog.models import Job as JobRow
from workbench.catalog.models import Model, Prediction

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


@pytest.fixture
def network(tmp_path: Path) -> Iterator[Network]:
    if os.geteuid() != 0:
        pytest.skip("namespace hosts need root (CI runs as root)")
    user, password = f"wbhosts_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    with throwaway_postgres_database() as url, services.throwaway_vhost() as vhost_url:
        vhost = vhost_url.rsplit("/", 1)[1]
        # guest may log in from loopback only: the hosts get a user of their own
        services.rabbitmqctl("add_user", user, password)
        services.rabbitmqctl("set_permissions", "-p", vhost, user, ".*", ".*", ".*")
        try:
            database = url.rsplit("/", 1)[1]
            with namespace_hosts(["a", "b", "c", "d"], tmp_path, database, vhost) as net:
                net.broker_url = f"amqp://{user}:{password}@{GATEWAY}:5672/{vhost}"
                yield net
        finally:
            services.rabbitmqctl("delete_user", user)


def start_worker(net: Network, host: Host, queues: str, log: Path) -> subprocess.Popen[bytes]:
    settings = net.settings(host, jobs=FAST_JOBS, user="tester")
    process = net.start(host, settings, ["worker", "--queues", queues], log)
    services.until(lambda: b" ready." in log.read_bytes() or process.poll() is not None, 90, f"{log.name}")
    assert process.poll() is None, log.read_text()[-3000:]
    return process


def checkpoint_keys(net: Network, job_id: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=net.s3.endpoint_url, region_name="us-east-1", **_keys(net))
    listed = client.list_objects_v2(Bucket=net.s3.bucket, Prefix=f"hosts/models/{job_id}/checkpoints/")
    return [item["Key"].rsplit("/", 1)[1] for item in listed.get("Contents", [])]


def _keys(net: Network) -> dict[str, str]:
    return {"aws_access_key_id": net.s3.access_key, "aws_secret_access_key": net.s3.secret_key}


def test_work_moves_between_hosts_that_share_nothing_but_the_services(
    network: Network, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    net = network
    a, b, c, d = (net.hosts[name] for name in "abcd")
    zipped = builders.zip_of(
        builders.image_folder(tmp_path / "shapes", {"circle": 150, "square": 150}),
        a.data_dir / "shapes.zip",  # only host A has it
    )
    for name, value in net.s3.environ().items():  # this test's own client reads the store too
        monkeypatch.setenv(name, value)
    client_settings = net.settings(a, jobs=FAST_JOBS, user="tester").with_overrides(
        database_url=net.database_url.replace(GATEWAY, "127.0.0.1"),
        broker_url=net.broker_url.replace(GATEWAY, "127.0.0.1"),
        result_backend="", data_dir=tmp_path / "client",
    )  # fmt: skip
    with Workbench(client_settings) as bench:
        start_worker(net, a, "imagery", tmp_path / "a-imagery.log")
        ingested = bench.ingest_job(zipped, "shapes", split="0.7,0.15,0.15").wait(timeout=300)
        assert ingested.state == "succeeded", ingested.error
        assert bench.dataset("shapes").filter(label="circle").count() == 150

        start_worker(net, b, "training", tmp_path / "b-torch.log")
        job = bench.train("shapes", name="shapes", epochs=8, image_size=16, batch_size=32, hflip=False)
        services.until(
            lambda: len(job.info().metrics.get("curves", {}).get("epochs", [])) >= 2
            and "last.ckpt" in checkpoint_keys(net, job.id),
            600, "two epochs trained on host B, with a checkpoint in the store",
        )  # fmt: skip
        net.remove(b)  # killed and gone, mid-training
        start_worker(net, d, "training,inference", tmp_path / "d-torch.log")
        info = job.wait(timeout=900)
        assert (info.state, info.deliveries) == ("succeeded", 2), info.error
        epochs = [point["epoch"] for point in info.metrics["curves"]["epochs"]]
        assert epochs.count(1) == 1, epochs  # resumed from B's checkpoint, not started over
        assert (d.data_dir / "models" / job.id / "checkpoints").is_dir()  # fetched from the store
        model_id = info.result["model_id"]

        start_worker(net, c, "inference", tmp_path / "c-inference.log")
        predicted = bench.predict(model_id, "shapes", chunk=25).wait(timeout=600)
        assert predicted.state == "succeeded", predicted.error
        with bench.catalog.sessions() as session:
            assert session.scalar(select(func.count()).select_from(Model)) == 1
            per_image = select(Prediction.image_id, func.count()).group_by(Prediction.image_id)
            counts = [n for _, n in session.execute(per_image)]
            chunks = select(JobRow.worker).where(JobRow.parent_id == predicted.id)
            takers = {worker.split("-")[0] for worker in session.scalars(chunks)}
        assert len(counts) == 300 and set(counts) == {1}  # every image, exactly once
        assert takers == {"inference", "training"}  # hosts C and D both took chunks

        report = bench.report_job("model", {"model_id": model_id}).wait(timeout=900)  # on host A
        assert report.state == "succeeded", report.error
        html = bench.report_html(report.result["report_id"])  # from the store, into this host's cache
        assert html.is_relative_to(client_settings.data_dir) and "<html" in html.read_text().lower()
