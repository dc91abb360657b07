"""Out of memory in-process: real refused allocations (numpy, torch) are told apart from other
errors, and a batch halves until it fits, down to its floor."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from workbench.errors import OutOfMemoryError, WorkbenchError
from workbench.ml.data import CachedImageData
from workbench.ml.memory import Halved, Halving, is_out_of_memory

MACHINE = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
OVERCOMMIT = Path("/proc/sys/vm/overcommit_memory")


def _refusal_of(allocate: Callable[[], object]) -> BaseException:
    try:
        allocate()
    except Exception as exc:
        return exc
    raise AssertionError("the allocation was not refused")


def test_refused_allocations_of_numpy_and_torch_are_out_of_memory() -> None:
    assert is_out_of_memory(_refusal_of(lambda: np.empty(2**62, np.uint8)))  # MemoryError
    assert is_out_of_memory(_refusal_of(lambda: torch.empty(2**62, dtype=torch.uint8)))  # RuntimeError
    assert is_out_of_memory(torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB"))


def test_other_errors_are_not() -> None:
    assert not is_out_of_memory(_refusal_of(lambda: torch.ones(2, 3) @ torch.ones(2, 3)))  # shapes
    assert not is_out_of_memory(ValueError("bad value"))
    assert not is_out_of_memory(WorkbenchError("the training cache is out of memory, says a person"))


def _needs_heuristic_overcommit() -> None:
    if not OVERCOMMIT.exists() or OVERCOMMIT.read_text().strip() == "1":
        pytest.skip("the kernel grants every allocation (vm.overcommit_memory=1): none is refused")


def test_a_batch_that_cannot_be_allocated_halves_until_it_fits_and_stays_there() -> None:
    """Each image costs a hundredth of the machine's memory: 256 or 128 at once is more than the
    machine has, which the kernel refuses outright; 64 is granted (never touched, so never used)."""
    _needs_heuristic_overcommit()
    per_image = MACHINE // 100
    heard: list[Halved] = []

    def step(part: Sequence[int]) -> list[int]:
        block = np.empty(len(part) * per_image, np.uint8)
        del block
        return list(part)

    halving = Halving(256, floor=8, on_halve=heard.append)
    results = halving.run(range(600), step)

    assert [i for part in results for i in part] == list(range(600))  # every item once, in order
    assert [len(part) for part in results] == [64] * 9 + [24]
    assert [(h.batch, h.to) for h in heard] == [(256, 128), (128, 64)]
    assert str(heard[0]) == "ran out of memory at batch 256; went on at 128"
    assert "allocate" in heard[0].error
    assert halving.as_metrics()["batch"] == 64 and halving.as_metrics()["started_at"] == 256


def test_out_of_memory_at_the_floor_fails_saying_what_to_try() -> None:
    _needs_heuristic_overcommit()
    halving = Halving(32, floor=8)
    with pytest.raises(OutOfMemoryError) as raised:
        halving.call(lambda batch: np.empty(batch * MACHINE, np.uint8))
    assert [h.to for h in halving.halvings] == [16, 8]
    message = str(raised.value)
    assert message.startswith("ran out of memory at batch 8, the smallest allowed (it started at 32")
    assert "smaller image size" in message and "more memory" in message


def test_an_error_that_is_not_memory_is_not_retried() -> None:
    calls: list[int] = []

    def step(batch: int) -> None:
        calls.append(batch)
        raise ValueError("a broken image")

    with pytest.raises(ValueError, match="a broken image"):
        Halving(64, floor=8).call(step)
    assert calls == [64]


# -- training: out of memory mid-run, resumed at half the batch with the same optimizer steps ----
class HungryFromEpoch2(CachedImageData):  # type: ignore[misc]  # Lightning's classes are Any to mypy
    """Training batches that, from the second epoch, need a tenth of the machine's memory per
    image: 16 at once is more than the machine has (the kernel refuses it), 8 is granted."""

    passes = 0

    def train_dataloader(self) -> Any:
        batches = super().train_dataloader()
        data = self

        class Hungry:
            def __len__(self) -> int:
                return len(batches)

            def __iter__(self) -> Iterator[Any]:
                data.passes += 1
                for images, targets in batches:
                    if data.passes >= 2:
                        np.empty(len(images) * (MACHINE // 10), np.uint8)  # granted, never touched
                    yield images, targets

        return Hungry()


@pytest.mark.slow
def test_training_out_of_memory_mid_run_resumes_at_half_the_batch_with_the_same_steps(tmp_path: Path) -> None:
    from workbench.ml.config import TrainConfig
    from workbench.ml.train import fit

    _needs_heuristic_overcommit()
    config = TrainConfig(epochs=3, image_size=8, batch_size=16, precision="32-true", seed=0, patience=10)
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (64, 3, 8, 8), dtype=np.uint8)
    splits = {"train": np.arange(48), "val": np.arange(48, 64), "test": np.arange(48, 64)}
    data = HungryFromEpoch2(pixels, np.arange(64) % 2, splits, batch_size=16)
    epochs: list[int] = []

    def fit_at(size: int) -> Any:  # as train_job does
        data.batch_size = size
        return fit(data, 2, config, tmp_path, on_epoch=lambda p: epochs.append(p["epoch"]),
                   accumulate=config.batch_size // size)  # fmt: skip

    halving = Halving(16, floor=8)
    halving.call(fit_at)

    assert [(h.batch, h.to) for h in halving.halvings] == [(16, 8)]
    assert epochs == [1, 2, 3]  # epoch 1 at 16; epochs 2 and 3 at 8, resumed from epoch 1's checkpoint
    last = torch.load(tmp_path / "last.ckpt", weights_only=True)
    assert last["epoch"] == 2 and last["global_step"] == 3 * 48 // 16  # 8 + 8 accumulated: one step
