"""Checkpoints written whole, and a resume that trusts only whole ones.

Lightning writes every checkpoint through a CheckpointIO plugin: ``AtomicCheckpointIO`` saves to
a temporary file in the same folder, fsyncs and renames it (``workbench.ml.files``), and keeps
the previous ``last.ckpt`` as ``last.prev.ckpt`` (a hard link) when it puts a new one in place.
``WriterThread`` is Lightning's ``AsyncCheckpointIO`` (decision #29: a thread writes while the
next epoch trains) with a hook called on the training thread before each write.

A resume checks what it finds (every zip record's CRC, then ``torch.load``): an unreadable
``last.ckpt`` (cut short by an older writer, a full disk, a damaged disk) is removed and the
previous one used, else training starts over; each case is logged. Lightning's own writer put a
file under its real name by a copy from ``/tmp`` when that is another filesystem, so a full disk
or a kill left a cut-short checkpoint there, and every later run failed on it (``EOFError``).
"""

from __future__ import annotations

import logging
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.plugins.io import AsyncCheckpointIO

from workbench.errors import TrainingError
from workbench.ml.files import DISK_FULL, atomic_path, no_space, remove_temporaries

log = logging.getLogger(__name__)
LAST, PREVIOUS, BEST = "last.ckpt", "last.prev.ckpt", "best.ckpt"


class AtomicCheckpointIO(TorchCheckpointIO):
    """``torch.save`` to a temporary file, fsync, rename: a checkpoint is whole or absent.
    ``after_write`` gets each whole checkpoint (to copy it where other hosts can resume from it)."""

    def __init__(self, after_write: Callable[[Path], None] | None = None) -> None:
        super().__init__()
        self.after_write = after_write

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        if storage_options is not None:
            raise TypeError(f"{type(self).__name__} takes no storage_options")
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        previous = target.with_name(PREVIOUS) if target.name == LAST else None
        if previous is not None and target.exists():
            # The current last.ckpt is whole and becomes the previous one: the older one can go
            # now, so a write needs room for two checkpoints, not three.
            previous.unlink(missing_ok=True)
        try:
            # A file object, not a path: torch then raises the OSError of a full disk (as the
            # context of its RuntimeError) instead of a bare "iostream error".
            with atomic_path(target, previous=previous) as temporary, temporary.open("wb") as out:
                torch.save(checkpoint, out)
        except (OSError, RuntimeError) as exc:
            if (cause := _os_error(exc)) is None or cause.errno not in DISK_FULL:
                raise
            raise TrainingError(
                f"{no_space(target)} writing the checkpoint {target.name}: free some space there; "
                "the last whole checkpoint is kept and the job resumes from it when run again"
            ) from exc
        if self.after_write is not None:
            self.after_write(target)


def _os_error(exc: BaseException | None) -> OSError | None:
    while exc is not None and not isinstance(exc, OSError):
        exc = exc.__cause__ or exc.__context__
    return exc


class WriterThread(AsyncCheckpointIO):
    """Checkpoints written by a background thread; ``before_write`` runs first, on the training
    thread, so what it raises stops training at once and that checkpoint is never written."""

    def __init__(self, checkpoint_io: TorchCheckpointIO, before_write: Callable[[], None] | None) -> None:
        super().__init__(checkpoint_io)
        self.before_write = before_write

    def save_checkpoint(self, *args: Any, **kwargs: Any) -> None:
        if self.before_write is not None:
            self.before_write()
        super().save_checkpoint(*args, **kwargs)


class BestCheckpoint(ModelCheckpoint):
    """The best epoch's weights. A resumed run whose ``best.ckpt`` is gone (removed as unreadable)
    forgets that best, so its next epoch writes a new one instead of pointing at nothing."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._fresh = self.state_dict()

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        super().load_state_dict(state_dict)
        if self.best_model_path and not Path(self.best_model_path).exists():
            log.warning(
                "the best checkpoint %s is gone: the next epoch's is the new best", self.best_model_path
            )
            super().load_state_dict(self._fresh)


def unreadable(path: Path) -> str | None:
    """Why the checkpoint at ``path`` cannot be loaded, or None when it is whole and loads."""
    try:
        with zipfile.ZipFile(path) as archive:  # torch.save writes a zip; its CRCs catch damage
            damaged = archive.testzip()
        if damaged is not None:
            return f"record {damaged} is damaged"
        torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except Exception as exc:  # whatever the reason, it cannot be resumed from
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:120] if str(exc) else 'empty'}"
    return None


def prepare_resume(folder: Path) -> Path | None:
    """The checkpoint to resume from (``last.ckpt``, else ``last.prev.ckpt``), or None to start
    over. Unreadable checkpoints and unfinished writes are removed: they would fail every run."""
    remove_temporaries(folder)
    best = folder / BEST
    if best.exists() and (reason := unreadable(best)) is not None:
        log.warning("removed %s, which cannot be read (%s)", best, reason)
        best.unlink()
    removed: list[str] = []
    for name in (LAST, PREVIOUS):
        path = folder / name
        if not path.exists():
            continue
        if (reason := unreadable(path)) is None:
            log.log(logging.WARNING if removed else logging.INFO, "resuming from %s", path)
            return path
        log.warning("removed %s, which cannot be read (%s)", path, reason)
        path.unlink()
        removed.append(name)
    if removed:
        log.warning("no readable checkpoint left in %s: training starts over", folder)
    return None


def finish(folder: Path) -> None:
    """After a run: ``last.ckpt`` is whole, so the previous one is no longer needed."""
    if (folder / LAST).exists():
        (folder / PREVIOUS).unlink(missing_ok=True)


def callbacks_and_plugin(
    folder: Path, before_write: Callable[[], None] | None, after_write: Callable[[Path], None] | None = None
) -> tuple[BestCheckpoint, ModelCheckpoint, WriterThread]:
    """The best epoch's weights only (what is kept and exported), the last epoch's full state
    (what a redelivered job resumes from), and the plugin that writes both."""
    best = BestCheckpoint(
        dirpath=folder, filename="best", monitor="val_acc", mode="max", save_top_k=1,
        save_weights_only=True, enable_version_counter=False,
    )  # fmt: skip
    last = ModelCheckpoint(dirpath=folder, filename="last", enable_version_counter=False)
    return best, last, WriterThread(AtomicCheckpointIO(after_write), before_write)
