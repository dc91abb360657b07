"""Files written whole or not at all: a temporary name in the same folder, fsync'ed, renamed.

A crash, a kill or a full disk in the middle of a write leaves the previous file (or none) under
the real name, never a cut-short one: a rename within one folder is atomic, the fsync before it
puts the bytes on disk before the name points at them, and the folder's fsync after it keeps the
rename across a power cut. A write cut short leaves at most a hidden temporary file,
``.<name>.<token>.tmp<suffix>`` (the suffix kept for libraries that look at it), which
``remove_temporaries`` clears. Readers open the real name and see the old file or the new one.

Checkpoints, the training cache, exports and reports all write through here (decision #41).
"""

from __future__ import annotations

import errno
import logging
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

log = logging.getLogger(__name__)
DISK_FULL = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)  # the errors a write past the room there is gets
_TEMPORARY = re.compile(r"^\..+\.\d+-[0-9a-f]{8}\.tmp")


def no_space(path: Path) -> str:
    """What a person reads when the disk under ``path`` is full: how much is free, and where."""
    folder = path if path.is_dir() else path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent
    free = shutil.disk_usage(folder).free / 2**20
    return f"no space left on the data disk ({free:,.0f} MB free in {folder})"


def temporary_for(target: Path) -> Path:
    """A name beside ``target`` that no other writer (process or thread) will pick."""
    return target.with_name(f".{target.name}.{os.getpid()}-{secrets.token_hex(4)}.tmp{target.suffix}")


def commit(temporary: Path, target: Path, *, previous: Path | None = None) -> None:
    """Put the finished ``temporary`` in place as ``target``, durably. With ``previous``, the
    file ``target`` named until now stays there (a hard link: no copy, and ``target`` is never
    missing meanwhile)."""
    _fsync(temporary)
    if previous is not None and target.exists():
        _keep_as(target, previous)
    os.replace(temporary, target)
    _fsync_folder(target.parent)


@contextmanager
def atomic_path(target: Path, *, previous: Path | None = None) -> Iterator[Path]:
    """A temporary path to write ``target``'s content to; renamed into place when the block ends,
    removed when it raises (so nothing is left behind and ``target`` is untouched)."""
    temporary = temporary_for(target)
    try:
        yield temporary
        commit(temporary, target, previous=previous)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_bytes(target: Path, data: bytes) -> None:
    with atomic_path(target) as temporary:
        temporary.write_bytes(data)


def write_text(target: Path, text: str) -> None:
    write_bytes(target, text.encode("utf-8"))


def is_temporary(path: Path) -> bool:
    return bool(_TEMPORARY.match(path.name))


def remove_temporaries(folder: Path, *, older_than: float = 0.0) -> list[Path]:
    """Remove what writes cut short (a killed process) left in ``folder``: temporary files not
    modified for ``older_than`` seconds (a live writer keeps touching its own)."""
    removed: list[Path] = []
    if not folder.is_dir():
        return removed
    now = time.time()
    for path in folder.iterdir():
        try:
            if is_temporary(path) and now - path.stat().st_mtime >= older_than:
                path.unlink()
                removed.append(path)
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            continue
    if removed:
        log.info("removed %d unfinished file(s) in %s: %s", len(removed), folder, [p.name for p in removed])
    return removed


def _keep_as(target: Path, previous: Path) -> None:
    link = temporary_for(previous)
    try:
        os.link(target, link)
    except OSError as exc:  # a filesystem without hard links: the new file is still written whole
        log.warning("cannot keep %s as %s (%s)", target.name, previous.name, exc.strerror or exc)
        return
    os.replace(link, previous)


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
