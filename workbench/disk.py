"""A full data disk is an error like any other: say so, free what the failure needs, leave nothing.

When the disk fills, the failed run still has to delete what it wrote (rows and blobs) and record
its failure, and the embedded catalog (SQLite) lives on that same disk: both need a little room.
So every run holds a reserve, a file of ``RESERVE_BYTES`` in the data directory, and gives it
back the moment the disk is full (``undo`` and the job runner do); the next run takes it again.
"""

from __future__ import annotations

import errno
import logging
import os
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from sqlalchemy.exc import OperationalError

from workbench.config import Settings
from workbench.errors import DiskFullError, WorkbenchError
from workbench.ml.files import no_space

log = logging.getLogger(__name__)
T = TypeVar("T")
RESERVE_BYTES = 16 * 2**20  # room for an undo's deletes and a failure row in SQLite's WAL
DISK_FULL = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class OutOfSpace:
    """Where a chunk of per-image work stopped: the disk filled (what came before it is kept)."""

    reason: str


def until_full(results: Iterable[T]) -> list[T | OutOfSpace]:
    """``results`` in order, stopped at the first write that finds the disk full: what came
    before it, then an OutOfSpace (so a caller still learns which blobs were written)."""
    out: list[T | OutOfSpace] = []
    try:
        for result in results:
            out.append(result)
    except OSError as exc:
        if exc.errno not in DISK_FULL:
            raise
        out.append(OutOfSpace(str(exc)))
    return out


def reserve_path(data_dir: Path) -> Path:
    return data_dir / ".space-reserve"


def hold_reserve(settings: Settings) -> None:
    """Take the reserve, unless it is held already or the disk has less room than twice its
    size (then a run is about to fail anyway, and the reserve would only hasten it)."""
    path = reserve_path(settings.data_dir)
    try:
        if path.exists() or shutil.disk_usage(settings.data_dir).free < 2 * RESERVE_BYTES:
            return
        fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            os.posix_fallocate(fd, 0, RESERVE_BYTES)
        finally:
            os.close(fd)
    except OSError as exc:  # no room after all, or a filesystem without fallocate: no reserve
        path.unlink(missing_ok=True)
        log.debug("no space reserve in %s: %s", settings.data_dir, exc)


def release_reserve(settings: Settings) -> None:
    """Give the reserve back to the disk (after a full disk, before cleaning up)."""
    reserve_path(settings.data_dir).unlink(missing_ok=True)


def is_disk_full(error: BaseException | None) -> bool:
    """Whether ``error`` (or what caused it) is a full disk: an OSError, SQLite's own word, or a
    workbench error saying so."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in DISK_FULL:
            return True
        if isinstance(error, OperationalError) and "database or disk is full" in str(error.orig):
            return True
        if isinstance(error, DiskFullError) or "no space left on the data disk" in str(error):
            return True
        error = error.__cause__ or error.__context__
    return False


def release_reserve_if_low(settings: Settings) -> None:
    """Before cleaning up after a failure: if the disk is (nearly) full, give the reserve back."""
    try:
        if shutil.disk_usage(settings.data_dir).free < RESERVE_BYTES:
            release_reserve(settings)
    except OSError:
        pass


def disk_full_error(settings: Settings, error: BaseException) -> WorkbenchError:
    """The one-line error a person gets for a full disk under the data directory."""
    if isinstance(error, WorkbenchError) and "no space left on the data disk" in str(error):
        return error  # already says so, and what it was writing (a checkpoint, the cache, a report)
    return DiskFullError(f"{no_space(settings.data_dir)}: free some space and run it again")
