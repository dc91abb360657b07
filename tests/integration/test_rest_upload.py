"""A 1 GiB zip uploaded by PUT to the REST API: the body is streamed to disk and into the object
store, so the API process's peak RSS rises by less than 64 MB, and the object lands whole; an
upload cut off half way leaves nothing behind, on disk or in the store. And the API process does
not load torch."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit

import boto3
import httpx
import pytest

from tests import services
from tests.rest import Api, running_api
from tests.seaweedfs import S3Server
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow

GIB = 1024**3
BLOCK = 1024**2


def peak_rss_mb(api: Api) -> float:
    """The process's high-water mark of resident memory (VmHWM), in MB."""
    for line in Path(f"/proc/{api.process.pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmHWM")


def body(total: int) -> Iterator[bytes]:
    block = bytes(range(256)) * (BLOCK // 256)
    for _ in range(total // BLOCK):
        yield block


@pytest.fixture
def api(tmp_path: Path, s3_settings: Settings, seaweedfs: S3Server) -> Iterator[tuple[Api, str]]:
    settings = s3_settings.with_overrides(data_dir=tmp_path / "api-data")
    with Workbench(settings) as bench:
        token = bench.create_token("uploads", "write")[1]
    try:
        with running_api(settings, tmp_path / "api.log", env=seaweedfs.environ()) as running:
            yield running, token
    finally:  # the ingest it queued (of bytes that are no zip) ran on the embedded local worker
        services.kill_local_worker(settings)


def test_a_1_gib_zip_streams_into_the_store_and_a_cut_off_one_leaves_nothing(
    api: tuple[Api, str], s3_settings: Settings, seaweedfs: S3Server, tmp_path: Path
) -> None:
    running, token = api
    with running.client(token) as client:
        assert client.get("/v1/datasets").status_code == 200  # warmed up: every module imported
        before = peak_rss_mb(running)
        sent = client.put("/v1/datasets/big/zip", content=body(GIB), timeout=900)
        assert sent.status_code == 202, sent.text
        grown = peak_rss_mb(running) - before
        job = client.get(f"/v1/jobs/{sent.json()['job']}").json()
    print(f"peak RSS before {before:.1f} MB, grown by {grown:.1f} MB for a 1 GiB body")
    assert grown < 64, f"the API's peak RSS grew by {grown:.1f} MB"
    where = urlsplit(job["params"]["path"])
    s3 = boto3.client("s3", endpoint_url=seaweedfs.endpoint_url, region_name="us-east-1")
    assert s3.head_object(Bucket=where.netloc, Key=where.path.lstrip("/"))["ContentLength"] == GIB

    prefix = urlsplit(s3_settings.storage_url).path.strip("/") + "/"
    objects_before = {
        o["Key"] for o in s3.list_objects_v2(Bucket=where.netloc, Prefix=prefix).get("Contents", [])
    }
    _cut_off_upload(running.url, token, announced=200 * BLOCK, sent=20 * BLOCK)
    with running.client(token) as client:
        assert client.get("/health").status_code == 200  # the API goes on
    uploads = tmp_path / "api-data" / "uploads"
    assert [p.name for p in uploads.iterdir() if p.name.startswith(".")] == []  # no partial file
    objects_after = {
        o["Key"] for o in s3.list_objects_v2(Bucket=where.netloc, Prefix=prefix).get("Contents", [])
    }
    assert objects_after == objects_before
    maps = Path(f"/proc/{running.process.pid}/maps").read_text()
    assert "libtorch" not in maps and "torch/" not in maps, "the API process loaded torch"


def _cut_off_upload(url: str, token: str, announced: int, sent: int) -> None:
    """A PUT that announces ``announced`` bytes, sends ``sent`` and hangs up."""
    where = urlsplit(url)
    with socket.create_connection((where.hostname or "127.0.0.1", where.port or 80)) as connection:
        head = (
            f"PUT /v1/datasets/cut/zip HTTP/1.1\r\nHost: {where.netloc}\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Length: {announced}\r\nContent-Type: application/zip\r\n\r\n"
        )
        connection.sendall(head.encode())
        block = b"\0" * BLOCK
        for _ in range(sent // BLOCK):
            connection.sendall(block)
    # The server notices the hang-up when it next reads: give it a moment.
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(url + "/health", timeout=2)
            break
        except httpx.HTTPError:
            time.sleep(0.2)
    time.sleep(2)
