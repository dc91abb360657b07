"""Blobs in S3-compatible object storage (SeaweedFS in tests and compose; any S3 in production),
through boto3. Writes are conditional (``If-None-Match: *``), so a blob is written once however
many workers store it at the same time; reads go through a bounded local cache.

Credentials come from the environment as boto3 reads them (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, or a profile); the endpoint from ``WORKBENCH_S3_ENDPOINT_URL``.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from workbench.config import Settings
from workbench.errors import StorageError
from workbench.storage.cache import LocalCache

MISSING = {"404", "NoSuchKey", "NotFound"}
DENIED = {"AccessDenied", "403"}
MANIFEST = ".files.json"  # a published folder's files and sizes, for who may not list the bucket
TRANSFER = Config(retries={"max_attempts": 5, "mode": "standard"}, max_pool_connections=32)


class S3BlobStore:
    def __init__(
        self, bucket: str, prefix: str, endpoint_url: str | None, cache: LocalCache, data_dir: Path
    ) -> None:
        self.bucket, self.prefix, self.endpoint_url, self.cache = bucket, prefix, endpoint_url, cache
        self.data_dir = data_dir
        self._client: Any = None
        self._client_pid = 0

    @classmethod
    def from_settings(cls, settings: Settings) -> S3BlobStore:
        url = urlparse(settings.storage_url)
        if url.scheme != "s3" or not url.netloc:
            raise StorageError(
                f"WORKBENCH_STORAGE_URL={settings.storage_url!r} is not an S3 address: "
                "give s3://bucket or s3://bucket/prefix (or leave it empty for the data directory)"
            )
        prefix = url.path.strip("/")
        cache = LocalCache(settings.data_dir / "cache" / url.netloc / prefix, settings.cache_max_mb * 2**20)
        prefix = f"{prefix}/" if prefix else ""
        return cls(url.netloc, prefix, settings.s3_endpoint_url or None, cache, settings.data_dir)

    @property
    def client(self) -> Any:
        """boto3's client, one per process: a forked pool's workers must not share its sockets."""
        if self._client is None or self._client_pid != os.getpid():
            self._client = boto3.session.Session().client(
                "s3", endpoint_url=self.endpoint_url, config=TRANSFER
            )
            self._client_pid = os.getpid()
        return self._client

    def _blob_key(self, sha256: str) -> str:
        return f"blobs/{sha256[:2]}/{sha256}"

    def _thumb_key(self, sha256: str) -> str:
        return f"thumbs/{sha256[:2]}/{sha256}.jpg"

    def blob_path(self, sha256: str) -> Path:
        key = self._blob_key(sha256)
        return self.cache.path(key, lambda: self._get(key))

    def thumb_path(self, sha256: str) -> Path:
        key = self._thumb_key(sha256)
        try:
            return self.cache.path(key, lambda: self._get(key))
        except FileNotFoundError:  # a small image is its own thumbnail
            return self.blob_path(sha256)

    def has(self, sha256: str) -> bool:
        try:
            self._call("head_object", Key=self.prefix + self._blob_key(sha256))
        except FileNotFoundError:
            return False
        return True

    def put(self, sha256: str, data: bytes) -> bool:
        return self._put_once(self._blob_key(sha256), data)

    def put_thumbnail(self, sha256: str, jpeg: bytes) -> bool:
        return self._put_once(self._thumb_key(sha256), jpeg)

    def read(self, sha256: str) -> bytes:
        return self.blob_path(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        for key in (self._blob_key(sha256), self._thumb_key(sha256)):
            self._call("delete_object", Key=self.prefix + key)
            self.cache.discard(key)

    # -- files by their path under the data directory ------------------------------------------
    def publish(self, path: Path) -> None:
        key = self._file_key(path)
        try:
            self.client.upload_file(str(path), self.bucket, self.prefix + key)  # multipart when large
        except (ClientError, BotoCoreError) as exc:
            raise self._error("upload", key, exc) from exc

    def publish_folder(self, folder: Path) -> None:
        files = sorted(path for path in folder.rglob("*") if path.is_file() and path.name != MANIFEST)
        for path in files:
            self.publish(path)
        sizes = {str(path.relative_to(folder)): path.stat().st_size for path in files}
        key = self._file_key(folder) + "/" + MANIFEST
        self._call("put_object", Key=self.prefix + key, Body=json.dumps(sizes).encode())

    def reference(self, path: Path) -> str:
        return f"s3://{self.bucket}/{self.prefix}{self._file_key(path)}"

    def fetch(self, reference: str) -> Path:
        """Download the file, or every file under the folder, that this host does not have yet
        (by size: a published file is never rewritten but whole, by an atomic PUT)."""
        key = self._key_of(reference)
        local = self.data_dir / key
        for item in self._objects(key):
            target = self.data_dir / item["Key"][len(self.prefix) :]
            if target.exists() and target.stat().st_size == item["Size"]:
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            partial = target.with_name(f".{target.name}.{os.getpid()}.part")
            try:
                self.client.download_file(self.bucket, item["Key"], str(partial))
            except (ClientError, BotoCoreError) as exc:
                partial.unlink(missing_ok=True)
                raise self._error("download", item["Key"], exc) from exc
            os.replace(partial, target)
        return local

    def discard(self, reference: str) -> None:
        key = self._key_of(reference)
        try:
            listed = self._list(key)
        except _ListDenied:  # a person's credentials on a team server delete nothing: left for a sweep
            listed = []
        for item in listed:
            self._call("delete_object", Key=item["Key"])
        local = self.data_dir / key
        if local.is_dir():
            shutil.rmtree(local, ignore_errors=True)
        else:
            local.unlink(missing_ok=True)

    def _file_key(self, path: Path) -> str:
        try:
            return path.absolute().relative_to(self.data_dir).as_posix()
        except ValueError:
            raise StorageError(f"{path} is not under the data directory {self.data_dir}") from None

    def _key_of(self, reference: str) -> str:
        start = f"s3://{self.bucket}/{self.prefix}"
        if not reference.startswith(start):
            raise StorageError(f"{reference} is not in this store ({start}): check WORKBENCH_STORAGE_URL")
        return reference[len(start) :]

    def _objects(self, key: str) -> list[dict[str, Any]]:
        """The objects at ``key`` or under it; without permission to list the bucket (a person's
        credentials on a team server), the object itself or the folder's published manifest."""
        try:
            return self._list(key)
        except _ListDenied:
            pass
        whole = self.prefix + key
        try:
            return [{"Key": whole, "Size": self._call("head_object", Key=whole)["ContentLength"]}]
        except FileNotFoundError:
            pass
        manifest = self._call("get_object", Key=f"{whole}/{MANIFEST}")["Body"].read()
        return [{"Key": f"{whole}/{name}", "Size": size} for name, size in json.loads(manifest).items()]

    def _list(self, key: str) -> list[dict[str, Any]]:
        """The objects at ``key`` itself or under it as a folder."""
        paginator = self.client.get_paginator("list_objects_v2")
        pages = paginator.paginate(Bucket=self.bucket, Prefix=self.prefix + key)
        try:
            found = [item for page in pages for item in page.get("Contents", [])]
        except ClientError as exc:
            if str(exc.response.get("Error", {}).get("Code")) in DENIED:
                raise _ListDenied from exc
            raise self._error("list", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("list", key, exc) from exc
        whole = self.prefix + key
        return [item for item in found if item["Key"] == whole or item["Key"].startswith(whole + "/")]

    def _put_once(self, key: str, data: bytes) -> bool:
        try:
            self._call("put_object", Key=self.prefix + key, Body=data, IfNoneMatch="*")
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in {"PreconditionFailed", "412"}:
                return False  # there already: content-addressed, so it is the same bytes
            raise self._error("write", key, exc) from exc
        return True

    def _get(self, key: str) -> bytes:
        body: bytes = self._call("get_object", Key=self.prefix + key)["Body"].read()
        return body

    def _call(self, operation: str, **params: Any) -> Any:
        """One S3 call; a missing object is FileNotFoundError, any other failure a StorageError
        that says which store and what to check (boto3 itself retries the transient ones)."""
        try:
            return getattr(self.client, operation)(Bucket=self.bucket, **params)
        except ClientError as exc:
            code = str(exc.response.get("Error", {}).get("Code"))
            if code in MISSING and operation != "put_object":
                raise FileNotFoundError(f"s3://{self.bucket}/{params['Key']}") from None
            if operation == "put_object":
                raise
            raise self._error(operation, params["Key"], exc) from exc
        except BotoCoreError as exc:
            raise self._error(operation, params["Key"], exc) from exc

    def _error(self, operation: str, key: str, exc: Exception) -> StorageError:
        where = f"s3://{self.bucket}/{key} at {self.endpoint_url or 'the default AWS endpoint'}"
        if isinstance(exc, ClientError):
            error = exc.response.get("Error", {})
            said = f"{error.get('Code')}: {error.get('Message') or ''}".strip().rstrip(":")
            if error.get("Code") in {"InvalidAccessKeyId", "SignatureDoesNotMatch", "AccessDenied", "403"}:
                said += " (check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)"
            elif error.get("Code") == "NoSuchBucket":
                said += f" (create the bucket {self.bucket!r}, or fix WORKBENCH_STORAGE_URL)"
        else:
            said = str(exc).splitlines()[0] + " (is WORKBENCH_S3_ENDPOINT_URL right and the store up?)"
        return StorageError(f"the object store could not {operation.replace('_', ' ')} {where}: {said}")


class _ListDenied(Exception):
    """These credentials may not list the bucket."""
