"""Batches, and forked process pools for per-image work (ingest and augmentation share them).

Per-image Python (Pillow's header parsing, OpenCV calls, hashing) holds the GIL, so the work runs
in processes (docs/decisions.md #11). Forked, not spawned: a worker is ready in milliseconds
instead of re-importing Pillow, and it never touches the parent's database connections (it
leaves through os._exit, closing none).
"""

from __future__ import annotations

import ctypes
import itertools
import logging
import multiprocessing
import os
import signal
import sys
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Generic, Protocol, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")
R = TypeVar("R")


def batched(items: Iterable[T], size: int) -> Iterator[list[T]]:
    """Lists of ``size`` items (the last one shorter), lazily."""
    iterator = iter(items)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def even_parts(items: Sequence[T], most: int, multiple_of: int = 1) -> list[list[T]]:
    """``items`` in order, cut into parts of at most ``most`` (and at least one part per
    ``multiple_of`` while items last), their count a multiple of ``multiple_of`` and their sizes
    within one of each other: ``multiple_of`` workers sharing them finish together instead of one
    working alone on a remainder."""
    count = -(-len(items) // max(1, most))
    count = min(len(items), -(-max(count, 1) // multiple_of) * multiple_of)
    if count <= 1:
        return [list(items)] if items else []
    size, extra = divmod(len(items), count)
    bounds = [i * size + min(i, extra) for i in range(count + 1)]
    return [list(items[lo:hi]) for lo, hi in itertools.pairwise(bounds)]


def default_processes() -> int:
    """One per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


def drain(chunks: Iterator[list[R]], keep: Callable[[list[R]], list[T]]) -> list[T]:
    """What ``keep`` takes from each chunk still to come out of a pool (after a failure, the
    blobs the chunks already handed out wrote, so that the undo knows them). A pool that failed
    itself has nothing more to give."""
    kept: list[T] = []
    try:
        for chunk in chunks:
            kept += keep(chunk)
    except Exception as exc:  # the failure being undone may be the pool's own
        log.warning("a pool's last chunks were lost: %s", exc)
    return kept


class ChunkWorker(Protocol[T, R]):
    """What a pool's processes run: results for a list of items, in order."""

    def run(self, items: list[T]) -> list[R]: ...


class ForkPool(Generic[T, R]):
    """``processes`` forked workers, each making its ChunkWorker once (``make``, called in the
    child: a reader of its own, say) and running it on tasks of ``per_task`` items."""

    def __init__(self, make: Callable[[], ChunkWorker[T, R]], processes: int, per_task: int) -> None:
        self._per_task = max(1, per_task)
        self._executor = ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("fork"), initializer=_start, initargs=(make,)
        )

    def run_all(self, chunks: Iterable[list[T]]) -> Iterator[list[R]]:
        """Each chunk's results, in order, while the next chunk is already being worked on.

        One chunk of lookahead keeps both cores busy during the caller's insert; more would only
        write blobs an undo cannot know about if the caller fails.
        """
        pending: deque[Iterator[list[R]]] = deque()
        for chunk in chunks:
            tasks = [chunk[i : i + self._per_task] for i in range(0, len(chunk), self._per_task)]
            pending.append(self._executor.map(_run, tasks))
            if len(pending) > 1:
                yield [result for part in pending.popleft() for result in part]
        while pending:
            yield [result for part in pending.popleft() for result in part]

    def close(self) -> None:
        self._executor.shutdown(cancel_futures=True)


_worker: ChunkWorker[Any, Any] | None = None
_PR_SET_PDEATHSIG = 1  # from <sys/prctl.h>


def _start(make: Callable[[], ChunkWorker[Any, Any]]) -> None:
    global _worker
    die_with_parent()
    _worker = make()


def _run(items: list[Any]) -> list[Any]:
    assert _worker is not None, "ForkPool workers start with _start"
    return _worker.run(items)


def die_with_parent() -> None:
    """A worker whose parent was killed would wait on its task queue forever (and keep what it
    inherited, such as the local worker's lock): on Linux, have the kernel kill it too."""
    if sys.platform.startswith("linux"):
        parent = os.getppid()
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:  # the parent died before the request took effect
            os._exit(1)
