"""Blobs on a local volume (the embedded default): a blob's key is the sha256 of its bytes."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

_CREATE_NEW = os.O_WRONLY | os.O_CREAT | os.O_EXCL


class LocalBlobStore:
    """Blobs under ``root/blobs/ab/<sha256>``, thumbnails under ``root/thumbs/ab/<sha256>.jpg``.

    One level of 256 folders: a million images is ~4,000 files a folder, which ext4 and xfs
    handle well, and a small catalog does not pay a mkdir per image.
    """

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.blobs = self.root / "blobs"
        self.thumbs = self.root / "thumbs"

    def blob_path(self, sha256: str) -> Path:
        return Path(self._blob_name(sha256))

    # Names as strings on the write path: building a Path costs more than writing a small blob.
    def _blob_name(self, sha256: str) -> str:
        return f"{self.blobs}/{sha256[:2]}/{sha256}"

    def _thumb_name(self, sha256: str) -> str:
        return f"{self.thumbs}/{sha256[:2]}/{sha256}.jpg"

    def thumb_path(self, sha256: str) -> Path:
        """The thumbnail, or the blob itself when the image was small enough to be its own."""
        thumb = self._thumb(sha256)
        return thumb if thumb.exists() else self.blob_path(sha256)

    def _thumb(self, sha256: str) -> Path:
        return Path(self._thumb_name(sha256))

    def has(self, sha256: str) -> bool:
        return self.blob_path(sha256).exists()

    def put(self, sha256: str, data: bytes) -> bool:
        """Store ``data`` under its hash; returns False when it was already there."""
        return self._write_once(self._blob_name(sha256), data)

    def put_thumbnail(self, sha256: str, jpeg: bytes) -> bool:
        return self._write_once(self._thumb_name(sha256), jpeg)

    def read(self, sha256: str) -> bytes:
        return self.blob_path(sha256).read_bytes()

    def delete(self, sha256: str) -> None:
        for path in (self.blob_path(sha256), self._thumb(sha256)):
            path.unlink(missing_ok=True)

    def publish(self, path: Path) -> None:
        """Nothing to do: every process of this host reads the data directory."""

    def publish_folder(self, folder: Path) -> None:
        """Nothing to do either."""

    def reference(self, path: Path) -> str:
        return str(path)

    def fetch(self, reference: str) -> Path:
        return Path(reference)

    def discard(self, reference: str) -> None:
        path = Path(reference)
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)

    def _write_once(self, name: str, data: bytes) -> bool:
        """Write unless a complete copy is there already.

        No temporary file and rename (that doubles the metadata work per image): the row that
        points at a blob is committed only after the write returned, and a blob cut short by a
        crash has the wrong size, so the next put of the same content rewrites it. O_EXCL makes
        the common case (a new blob) one system call and decides races between processes.
        """
        try:
            fd = os.open(name, _CREATE_NEW, 0o644)
        except FileNotFoundError:  # the first blob of its folder; another writer may race us to it
            os.makedirs(os.path.dirname(name), exist_ok=True)
            return self._write_once(name, data)
        except FileExistsError:
            if os.stat(name).st_size == len(data):
                return False
            fd = os.open(name, os.O_WRONLY | os.O_TRUNC)
        try:  # plain descriptors: a file object costs more than writing a small blob
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view) :]
        except BaseException:  # a full disk, say: leave no blob cut short behind
            os.close(fd)
            os.unlink(name)
            raise
        os.close(fd)
        return True
