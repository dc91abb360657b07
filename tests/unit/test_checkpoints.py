"""Checkpoints are written whole, a resume falls back past one that cannot be read, and the hook
before each write can stop training. The ``fit`` cases train a real ResNet18 on tiny tensors."""

from __future__ import annotations

import logging
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.unit.test_files import disk_full_after
from workbench.errors import TrainingError
from workbench.ml.checkpoints import AtomicCheckpointIO, WriterThread, prepare_resume, unreadable
from workbench.ml.config import TrainConfig
from workbench.ml.data import CachedImageData
from workbench.ml.train import fit


def save(path: Path, epoch: int, megabytes: float = 0.1) -> None:
    tensor = torch.full((int(megabytes * 2**18),), float(epoch))
    AtomicCheckpointIO().save_checkpoint({"epoch": epoch, "state_dict": {"w": tensor}}, path)


def epoch_of(path: Path) -> int:
    return int(torch.load(path, weights_only=True)["epoch"])


def cut_short(path: Path, keep: float = 0.5) -> None:
    os.truncate(path, int(path.stat().st_size * keep))


def test_last_checkpoint_is_kept_as_the_previous_one_when_a_new_one_is_whole(tmp_path: Path) -> None:
    for epoch in (1, 2, 3):
        save(tmp_path / "last.ckpt", epoch)
    save(tmp_path / "best.ckpt", 2)
    assert (epoch_of(tmp_path / "last.ckpt"), epoch_of(tmp_path / "last.prev.ckpt")) == (3, 2)
    assert sorted(os.listdir(tmp_path)) == ["best.ckpt", "last.ckpt", "last.prev.ckpt"]


def test_a_full_disk_fails_the_write_with_a_reason_and_keeps_the_last_checkpoint(tmp_path: Path) -> None:
    save(tmp_path / "last.ckpt", 1)
    with (
        disk_full_after(2**20),
        pytest.raises(TrainingError, match=r"no space left on the data disk .*free some space") as caught,
    ):
        save(tmp_path / "last.ckpt", 2, megabytes=4)
    assert "writing the checkpoint" in str(caught.value) and "\n" not in str(caught.value)
    assert epoch_of(tmp_path / "last.ckpt") == 1
    assert os.listdir(tmp_path) == ["last.ckpt"]  # no cut-short temporary file left behind


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda p: cut_short(p), id="cut-short-mid-file"),
        pytest.param(lambda p: cut_short(p, 0), id="empty"),
        pytest.param(lambda p: p.write_bytes(p.read_bytes()[:-30000] + bytes(30000)), id="zeroed-tail"),
    ],
)
def test_an_unreadable_checkpoint_is_told_apart_from_a_whole_one(
    tmp_path: Path, damage: Callable[[Path], None]
) -> None:
    save(tmp_path / "last.ckpt", 1)
    assert unreadable(tmp_path / "last.ckpt") is None
    damage(tmp_path / "last.ckpt")
    assert unreadable(tmp_path / "last.ckpt")


def test_a_flipped_byte_in_the_weights_is_caught_by_the_zip_checksums(tmp_path: Path) -> None:
    save(tmp_path / "last.ckpt", 1, megabytes=1)
    data = bytearray((tmp_path / "last.ckpt").read_bytes())
    data[len(data) // 2] ^= 0xFF  # inside the tensor's bytes: torch.load alone would not notice
    (tmp_path / "last.ckpt").write_bytes(bytes(data))
    assert "damaged" in (unreadable(tmp_path / "last.ckpt") or "")


def test_a_resume_falls_back_to_the_previous_checkpoint_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    for epoch in (1, 2):
        save(tmp_path / "last.ckpt", epoch)
    cut_short(tmp_path / "last.ckpt")
    with caplog.at_level(logging.INFO, logger="workbench.ml.checkpoints"):
        assert prepare_resume(tmp_path) == tmp_path / "last.prev.ckpt"
    assert os.listdir(tmp_path) == ["last.prev.ckpt"]
    assert "removed" in caplog.text and "last.ckpt" in caplog.text
    assert f"resuming from {tmp_path / 'last.prev.ckpt'}" in caplog.text


def test_a_resume_with_no_readable_checkpoint_starts_over_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """What this machine was left with after a full disk: best.ckpt cut short, last.ckpt empty."""
    save(tmp_path / "best.ckpt", 1, megabytes=1)
    save(tmp_path / "last.ckpt", 1)
    cut_short(tmp_path / "best.ckpt", 0.7)
    cut_short(tmp_path / "last.ckpt", 0)
    (tmp_path / ".last.ckpt.4242-0badc0de.tmp.ckpt").write_bytes(b"left by a killed writer")
    with caplog.at_level(logging.INFO, logger="workbench.ml"):
        assert prepare_resume(tmp_path) is None
    assert os.listdir(tmp_path) == []
    assert "training starts over" in caplog.text


def test_a_hook_that_raises_skips_the_write_and_stops_at_once(tmp_path: Path) -> None:
    class Fenced(Exception):
        pass

    def fenced() -> None:
        raise Fenced("another worker owns this job now")

    writer = WriterThread(AtomicCheckpointIO(), fenced)
    with pytest.raises(Fenced):  # raised by the call itself, not later by the writer thread
        writer.save_checkpoint({"epoch": 1}, tmp_path / "last.ckpt")
    writer.teardown()
    assert os.listdir(tmp_path) == []


# -- fit, for real ----------------------------------------------------------------------------
CONFIG = TrainConfig(epochs=3, image_size=8, batch_size=16, precision="32-true", seed=0)


def tiny_data() -> CachedImageData:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 3, 8, 8), dtype=np.uint8)
    splits = {"train": np.arange(48), "val": np.arange(48, 64), "test": np.arange(48, 64)}
    return CachedImageData(pixels, np.arange(64) % 2, splits, batch_size=16)


class Fenced(Exception):
    """What a fencing hook raises when the job belongs to another worker."""


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """A 3-epoch training whose hook refuses the third epoch's checkpoints: the checkpoints a
    worker lost during epoch 3 leaves (last.ckpt of epoch 2, last.prev.ckpt of epoch 1)."""
    folder = tmp_path_factory.mktemp("interrupted") / "checkpoints"
    epochs: list[int] = []
    calls: list[int] = []

    def before_checkpoint() -> None:
        calls.append(len(epochs))
        if len(epochs) == 3:
            raise Fenced("epoch 3 is not ours to write")

    with pytest.raises(Fenced) as raised:
        fit(tiny_data(), 2, CONFIG, folder, on_epoch=lambda p: epochs.append(p["epoch"]),
            before_checkpoint=before_checkpoint)  # fmt: skip
    shutil.copytree(folder, folder.with_name("as_left"))
    return {"folder": folder, "calls": calls, "raised": raised.value}


@pytest.mark.slow
def test_the_hook_runs_before_each_checkpoint_write_and_its_error_skips_the_write(
    interrupted: dict[str, Any],
) -> None:
    folder, calls = interrupted["folder"], interrupted["calls"]
    assert "not ours" in str(interrupted["raised"])
    assert calls[:2] == [1, 1] and calls[-1] == 3 and calls.count(3) == 1  # best + last at epoch 1
    assert sorted(os.listdir(folder)) == ["best.ckpt", "last.ckpt", "last.prev.ckpt"]
    # Lightning counts epochs from 0: last.ckpt is the second epoch's, the third was never written.
    assert (epoch_of(folder / "last.ckpt"), epoch_of(folder / "last.prev.ckpt")) == (1, 0)


def resumed(interrupted: dict[str, Any], damage: Callable[[Path], None]) -> list[int]:
    """The epochs a run on the interrupted one's checkpoints trains, once ``damage`` is done."""
    folder = interrupted["folder"]  # the same path: the checkpoints' callback state names it
    shutil.rmtree(folder)
    shutil.copytree(folder.with_name("as_left"), folder)
    damage(folder)
    model, best, history = fit(tiny_data(), 2, CONFIG, folder)
    assert best == folder / "best.ckpt" and unreadable(best) is None and model.training is False
    assert sorted(os.listdir(folder)) == ["best.ckpt", "last.ckpt"]  # the previous one is dropped at the end
    assert epoch_of(folder / "last.ckpt") == 2
    return [p["epoch"] for p in history.epochs]


@pytest.mark.slow
def test_a_resume_past_a_cut_short_last_checkpoint_continues_from_the_previous_one(
    interrupted: dict[str, Any],
) -> None:
    assert resumed(interrupted, lambda folder: cut_short(folder / "last.ckpt")) == [2, 3]


@pytest.mark.slow
def test_a_resume_with_an_empty_last_checkpoint_and_no_previous_one_starts_over(
    interrupted: dict[str, Any],
) -> None:
    def found_on_this_machine(folder: Path) -> None:
        cut_short(folder / "best.ckpt", 0.7)
        cut_short(folder / "last.ckpt", 0)
        (folder / "last.prev.ckpt").unlink()

    assert resumed(interrupted, found_on_this_machine) == [1, 2, 3]
