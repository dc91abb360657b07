"""A bounded local cache of objects from a remote store: each worker keeps the blobs and
thumbnails it read recently on its own disk, and no more than ``max_bytes`` of them.

Files are written whole (a temporary name, then a rename), so a reader never sees half an object,
and several processes of one host may share the folder. Least recently used goes first: a hit
touches the file's mtime, and eviction deletes the oldest until the cache is under 90 % of its
bound. The size is counted once per process and then kept up to date as it writes, so an
eviction scan happens only when the bound is crossed, not per object.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

LOW_WATER = 0.9  # eviction goes down to this share of the bound, so it does not run per write


class LocalCache:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root, self.max_bytes = Path(root), max_bytes
        self._size: int | None = None  # bytes in the cache, counted on first use
        self._lock = threading.Lock()

    def path(self, key: str, fetch: Callable[[], bytes]) -> Path:
        """The cached file for ``key``; ``fetch`` gives its bytes when it is not cached."""
        path = self.root / key
        try:
            os.utime(path)  # a hit: most recently used now
            return path
        except FileNotFoundError:
            pass
        data = fetch()
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.part")
        partial.write_bytes(data)
        os.replace(partial, path)
        self._added(len(data))
        return path

    def discard(self, key: str) -> None:
        (self.root / key).unlink(missing_ok=True)

    def size(self) -> int:
        """Bytes in the cache now (a full count)."""
        return sum(entry.stat().st_size for entry in self._files())

    def _added(self, nbytes: int) -> None:
        with self._lock:
            self._size = self.size() if self._size is None else self._size + nbytes
            if self._size > self.max_bytes:
                self._size = self._evict(int(self.max_bytes * LOW_WATER))

    def _evict(self, target: int) -> int:
        """Delete least recently used files until the cache holds at most ``target`` bytes."""
        entries = sorted(((e.stat(), e) for e in self._files()), key=lambda pair: pair[0].st_mtime)
        size = sum(stat.st_size for stat, _ in entries)
        for stat, entry in entries:
            if size <= target:
                break
            Path(entry.path).unlink(missing_ok=True)  # another process may have taken it already
            size -= stat.st_size
        return size

    def _files(self) -> list[os.DirEntry[str]]:
        found: list[os.DirEntry[str]] = []
        stack = [str(self.root)]
        while stack:
            try:
                with os.scandir(stack.pop()) as entries:
                    for entry in entries:
                        if entry.is_dir(follow_symlinks=False):
                            stack.append(entry.path)
                        elif not entry.name.endswith(".part"):
                            found.append(entry)
            except FileNotFoundError:
                continue
        return found
