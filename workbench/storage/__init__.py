"""Content-addressed blob storage: a blob's key is the sha256 of its bytes, and keys are all the
catalog records. Two backends stand behind one interface, chosen by the settings: a local
directory (the embedded default) and S3-compatible object storage, read through a bounded local
cache (``WORKBENCH_STORAGE_URL=s3://bucket/prefix``; docs/decisions.md #60)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol

from workbench.config import Settings

THUMBNAIL_SIZE = 128

__all__ = ["THUMBNAIL_SIZE", "BlobStore", "open_blob_store"]


class BlobStore(Protocol):
    """What the catalog's processes need of blob storage."""

    def blob_path(self, sha256: str) -> Path:
        """A local file with the blob's bytes (a remote store's cached copy)."""
        ...

    def thumb_path(self, sha256: str) -> Path:
        """A local file with the thumbnail, or the blob itself when it is its own thumbnail."""
        ...

    def has(self, sha256: str) -> bool: ...

    def put(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` under its hash; returns False when it was already there."""
        ...

    def put_thumbnail(self, sha256: str, jpeg: bytes) -> bool: ...

    def read(self, sha256: str) -> bytes: ...

    def delete(self, sha256: str) -> None:
        """The blob and its thumbnail; gone already is fine."""
        ...

    # Files one job writes and another process reads (checkpoints, ONNX exports), named by their
    # path under the data directory: a local store leaves them there; S3 keeps a copy under the
    # same relative key, which any host fetches into its own data directory.
    def publish(self, path: Path) -> None:
        """Make the file at ``path`` (under the data directory) readable by every host."""
        ...

    def publish_folder(self, folder: Path) -> None:
        """``publish`` every file under ``folder``, then its list of files: a person's
        credentials on a team server may read objects but not list the bucket."""
        ...

    def reference(self, path: Path) -> str:
        """What a catalog row records for a file or folder ``publish``ed (any host resolves it)."""
        ...

    def fetch(self, reference: str) -> Path:
        """The local file or folder a ``reference`` names, fetched first if this host lacks it."""
        ...

    def discard(self, reference: str) -> None:
        """A file or folder and every copy of it; gone already is fine."""
        ...


def open_blob_store(settings: Settings) -> BlobStore:
    """The store the settings name: ``s3://bucket[/prefix]``, else the data directory."""
    if settings.storage_url:
        from workbench.storage.s3 import S3BlobStore  # boto3 loads only where S3 is used

        return S3BlobStore.from_settings(settings)
    from workbench.storage.local import LocalBlobStore

    return LocalBlobStore(settings.data_dir)
