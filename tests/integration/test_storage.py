"""Blob storage behind one interface: the local directory and S3 (the real SeaweedFS) keep the
same promises, and a catalog whose blobs live in S3 ingests, augments and reads back from any
host's empty cache, with nothing under the data directory but that bounded cache."""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

import boto3
import pytest
from sqlalchemy import func, select

from tests import builders
from tests.seaweedfs import S3Server
from workbench.api import Workbench
from workbench.catalog.models import Prediction
from workbench.config import Settings
from workbench.errors import StorageError
from workbench.storage import BlobStore, open_blob_store
from workbench.storage.cache import LocalCache


@pytest.fixture(params=["local", "s3"])
def store_settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    if request.param == "local":
        return Settings(data_dir=tmp_path / "data", user="tester")
    settings: Settings = request.getfixturevalue("s3_settings")
    return settings


def blob(seed: int, size: int = 1000) -> tuple[str, bytes]:
    data = seed.to_bytes(4, "big") * (size // 4)
    return hashlib.sha256(data).hexdigest(), data


def test_a_blob_is_written_once_read_back_and_deleted(store_settings: Settings) -> None:
    store = open_blob_store(store_settings)
    sha, data = blob(1)
    assert not store.has(sha)
    assert store.put(sha, data) is True
    assert store.put(sha, data) is False  # content-addressed: already there
    assert store.has(sha) and store.read(sha) == data
    assert store.blob_path(sha).read_bytes() == data
    assert store.thumb_path(sha).read_bytes() == data  # no thumbnail: the blob is its own
    store.put_thumbnail(sha, b"jpeg bytes")
    assert store.thumb_path(sha).read_bytes() == b"jpeg bytes"
    store.delete(sha)
    store.delete(sha)  # gone already is fine
    assert not store.has(sha)


def test_many_writers_of_one_blob_leave_it_whole(store_settings: Settings) -> None:
    """S3's conditional put lets exactly one write; the local store may let a writer that found
    the file still short rewrite it (same bytes), never leave it cut short."""
    store = open_blob_store(store_settings)
    sha, data = blob(2, 200_000)
    wrote: list[bool] = []
    threads = [threading.Thread(target=lambda: wrote.append(store.put(sha, data))) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(wrote) == 8 and True in wrote
    if store_settings.storage_url:
        assert wrote.count(True) == 1
    assert store.read(sha) == data


def test_another_host_reads_what_one_wrote_through_its_own_empty_cache(
    s3_settings: Settings, tmp_path: Path
) -> None:
    writer = open_blob_store(s3_settings)
    reader = open_blob_store(s3_settings.with_overrides(data_dir=tmp_path / "other-host"))
    hashes = []
    for seed in range(5):
        sha, data = blob(seed)
        writer.put(sha, data)
        hashes.append(sha)
    assert [reader.read(sha) for sha in hashes] == [blob(seed)[1] for seed in range(5)]
    assert all(str(reader.blob_path(sha)).startswith(str(tmp_path / "other-host")) for sha in hashes)


def test_the_cache_stays_under_its_bound_and_keeps_the_most_recent(tmp_path: Path) -> None:
    cache = LocalCache(tmp_path / "cache", max_bytes=1_000_000)
    fetched: list[str] = []

    def fetch(key: str) -> bytes:
        fetched.append(key)
        return key.encode() * (100_000 // len(key))

    for n in range(40):
        key = f"blobs/{n:02d}/object-{n}"
        assert cache.path(key, lambda key=key: fetch(key)).read_bytes() == fetch(key)
        assert cache.size() <= 1_000_000
    fetched.clear()
    cache.path("blobs/39/object-39", lambda: fetch("blobs/39/object-39"))
    assert fetched == []  # the newest is still cached
    cache.path("blobs/00/object-0", lambda: fetch("blobs/00/object-0"))
    assert fetched == ["blobs/00/object-0"]  # the oldest was evicted, and comes back whole


def test_wrong_credentials_and_a_wrong_endpoint_say_what_to_check(
    s3_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    sha, _ = blob(3)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "not-the-secret")
    with pytest.raises(StorageError, match="check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"):
        open_blob_store(s3_settings).has(sha)
    unreachable = s3_settings.with_overrides(s3_endpoint_url="http://127.0.0.1:9")
    with pytest.raises(StorageError, match="WORKBENCH_S3_ENDPOINT_URL"):
        open_blob_store(unreachable).has(sha)
    with pytest.raises(StorageError, match="s3://bucket"):
        open_blob_store(s3_settings.with_overrides(storage_url="s3:/nobucket"))


def s3_keys(server: S3Server, settings: Settings, folder: str) -> list[str]:
    client = boto3.client("s3", endpoint_url=server.endpoint_url, region_name="us-east-1")
    prefix = settings.storage_url.split("/", 3)[3] + f"/{folder}/"
    pages = client.get_paginator("list_objects_v2").paginate(Bucket=server.bucket, Prefix=prefix)
    return [item["Key"] for page in pages for item in page.get("Contents", [])]


@pytest.mark.slow
def test_a_catalog_with_its_blobs_in_s3_ingests_augments_and_reads_from_another_host(
    s3_settings: Settings, seaweedfs: S3Server, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "shapes", {"a": 30, "b": 30}, fmt="JPEG")
    with Workbench(s3_settings) as bench:
        report = bench.ingest(folder, "shapes", processes=2)
        assert report.ingested == 60
        job = bench.augment(bench.dataset("shapes"), {"hflip": 1.0}, name="flipped", copies=1)
        assert job.wait(timeout=300).state == "succeeded"
    assert len(s3_keys(seaweedfs, s3_settings, "blobs")) == 120
    assert not (s3_settings.data_dir / "blobs").exists()  # nothing but the cache on this disk
    other = s3_settings.with_overrides(
        data_dir=tmp_path / "other-host", database_url=f"sqlite:///{s3_settings.data_dir / 'catalog.sqlite'}"
    )
    with Workbench(other) as elsewhere:
        records = elsewhere.dataset("flipped").page(0, 200)
        store: BlobStore = elsewhere.catalog.store
        assert len(records) == 60
        assert all(store.read(r.sha256) == store.blob_path(r.sha256).read_bytes() for r in records)
        assert all(hashlib.sha256(store.read(r.sha256)).hexdigest() == r.sha256 for r in records)


def test_an_unconfigured_store_is_the_data_directory(tmp_path: Path) -> None:
    settings = Settings.from_env({"WORKBENCH_DATA_DIR": str(tmp_path)})
    store = open_blob_store(settings)
    sha, data = blob(4)
    store.put(sha, data)
    assert store.blob_path(sha).is_relative_to(tmp_path)


@pytest.mark.slow
def test_a_model_trained_with_its_files_in_s3_runs_on_another_host_and_goes_with_its_objects(
    s3_settings: Settings, seaweedfs: S3Server, tmp_path: Path
) -> None:
    from tests import services

    folder = builders.image_folder(tmp_path / "shapes", {"a": 40, "b": 40})
    with Workbench(s3_settings) as bench:
        bench.ingest(folder, "shapes", split="0.6,0.2,0.2")
        info = bench.train("shapes", epochs=2, image_size=16, hflip=False).wait(timeout=600)
        assert info.state == "succeeded", info.error
        model_id, job_id = info.result["model_id"], info.id
    services.kill_local_worker(s3_settings)
    model_keys = s3_keys(seaweedfs, s3_settings, f"models/{job_id}")
    names = {key.rsplit("/", 1)[1] for key in model_keys}
    assert {"last.ckpt", "best.ckpt", "model.onnx", "labels.json"} <= names, names

    other = s3_settings.with_overrides(
        data_dir=tmp_path / "other-host", database_url=f"sqlite:///{s3_settings.data_dir / 'catalog.sqlite'}"
    )
    with Workbench(other) as elsewhere:
        export = elsewhere.export_folder(model_id)
        assert export.is_relative_to(other.data_dir) and (export / "model.onnx").stat().st_size > 0
        predicted = elsewhere.predict(model_id, "shapes").wait(timeout=300)
        assert predicted.state == "succeeded", predicted.error
        with elsewhere.catalog.sessions() as session:
            query = select(func.count()).select_from(Prediction).where(Prediction.model_id == model_id)
            rows = session.scalar(query)
        assert rows == 80
        elsewhere.delete_model(model_id)
    services.kill_local_worker(other)
    assert s3_keys(seaweedfs, s3_settings, f"models/{job_id}") == []


@pytest.mark.slow
def test_an_upload_shared_on_one_host_is_ingested_by_a_worker_on_another(
    s3_settings: Settings, tmp_path: Path
) -> None:
    from tests import services

    upload = s3_settings.data_dir / "uploads" / "shapes.zip"
    upload.parent.mkdir(parents=True)
    builders.zip_of(builders.image_folder(tmp_path / "shapes", {"a": 5, "b": 5}), upload)
    with Workbench(s3_settings) as here:
        reference = here.share(upload)
        assert reference.startswith("s3://") and reference.endswith("/uploads/shapes.zip")
    other = s3_settings.with_overrides(
        data_dir=tmp_path / "other-host", database_url=f"sqlite:///{s3_settings.data_dir / 'catalog.sqlite'}"
    )
    upload.unlink()  # only the store has it now
    with Workbench(other) as elsewhere:
        info = elsewhere.ingest_job(reference, "shapes").wait(timeout=300)
        assert info.state == "succeeded", info.error
        assert elsewhere.dataset("shapes").count() == 10
    services.kill_local_worker(other)
    assert (other.data_dir / "uploads" / "shapes.zip").is_file()  # fetched into that host's data
