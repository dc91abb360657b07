"""A doorbell for the local worker: a FIFO in the data directory that a submit rings.

The idle worker waits on it with a timeout instead of polling the jobs table many times a second:
a submit on this machine wakes it at once, and a row written from elsewhere is still seen at the
next timeout. A named pipe needs no path length limit (a Unix socket has one), no inotify and no
extra thread, and a ring sent while nobody listens costs nothing: opening it fails, the row waits
in the table. Where the filesystem has no FIFOs, the worker just sleeps out its timeout.
"""

from __future__ import annotations

import errno
import logging
import os
import select
import stat
import time
from pathlib import Path

log = logging.getLogger(__name__)


class Doorbell:
    """The worker's end: ``wait(timeout)`` returns early, True, when the bell was rung."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._read: int | None = None
        self._keep: int | None = None
        try:
            if path.exists() and not stat.S_ISFIFO(path.stat().st_mode):
                path.unlink()  # a stray file where the FIFO belongs
            if not path.exists():
                os.mkfifo(path, 0o600)
            self._read = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            # Our own writer keeps the FIFO open: without one, every ringer's close would leave it
            # at end-of-file, readable for good, and the wait below would spin.
            self._keep = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
        except OSError as exc:
            log.info("no doorbell at %s (%s): polling the jobs table instead", path, exc)
            self.close()

    def wait(self, timeout: float) -> bool:
        if self._read is None:
            time.sleep(timeout)
            return False
        ready, _, _ = select.select([self._read], [], [], timeout)
        if not ready:
            return False
        while True:  # every ring since the last wait counts as one
            try:
                if not os.read(self._read, 4096):
                    return True
            except BlockingIOError:
                return True

    def close(self) -> None:
        for fd in (self._read, self._keep):
            if fd is not None:
                os.close(fd)
        self._read = self._keep = None


def ring(path: Path) -> bool:
    """Wake the worker waiting on ``path``, if one is; never blocks. True when it was rung."""
    try:
        if not stat.S_ISFIFO(path.stat().st_mode):
            return False
        fd = os.open(path, os.O_WRONLY | os.O_NONBLOCK)
    except OSError as exc:  # ENOENT: no worker made one yet; ENXIO: no worker listens
        if exc.errno not in (errno.ENOENT, errno.ENXIO):
            log.warning("could not ring the local worker's doorbell %s: %s", path, exc)
        return False
    try:
        os.write(fd, b"\n")
    except BlockingIOError:
        pass  # the pipe is full of rings the worker has not read yet: it is awake anyway
    finally:
        os.close(fd)
    return True
