"""Batches from a tensor cache: random crops and flips and normalization on whole batch tensors.

No DataLoader workers: the cache is already decoded, so a batch is an index into memory, and
augmenting a batch tensor at once is cheaper than per-image transforms in worker processes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class Augment:
    hflip: bool = True  # off for what a mirror changes (digits, text)
    shift: float = 0.125  # random translation, as a fraction of the side (pad and crop)


class Batches:
    """An iterable of (images float NCHW normalized, targets) over ``indices`` of the cache."""

    def __init__(
        self,
        pixels: np.ndarray,
        targets: np.ndarray,
        indices: np.ndarray,
        batch_size: int,
        *,
        shuffle: bool,
        augment: Augment | None,
        seed: int,
        mean: tuple[float, ...],
        std: tuple[float, ...],
        channels_last: bool = False,
    ) -> None:
        self.pixels, self.targets, self.indices = pixels, targets, indices
        self.batch_size, self.shuffle, self.augment = batch_size, shuffle, augment
        self.generator = torch.Generator().manual_seed(seed)
        self.mean = torch.tensor(mean).view(1, 3, 1, 1)
        self.std = torch.tensor(std).view(1, 3, 1, 1)
        self.channels_last = channels_last

    def __len__(self) -> int:
        return (len(self.indices) + self.batch_size - 1) // self.batch_size

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        order = self.indices
        if self.shuffle:
            order = order[torch.randperm(len(order), generator=self.generator).numpy()]
        for start in range(0, len(order), self.batch_size):
            chosen = np.sort(order[start : start + self.batch_size])  # sorted: sequential reads
            images = torch.from_numpy(self.pixels[chosen]).float().div_(255)
            if self.augment is not None:
                images = self._augment(images)
            images = (images - self.mean) / self.std
            if self.channels_last:
                images = images.contiguous(memory_format=torch.channels_last)
            yield images, torch.from_numpy(self.targets[chosen])

    def _augment(self, images: torch.Tensor) -> torch.Tensor:
        assert self.augment is not None
        n, _, h, w = images.shape
        if self.augment.hflip:
            flip = torch.rand(n, generator=self.generator) < 0.5
            images[flip] = images[flip].flip(-1)
        pad = round(self.augment.shift * h)
        if pad:
            padded = F.pad(images, (pad, pad, pad, pad), mode="replicate")
            dx = torch.randint(0, 2 * pad + 1, (n,), generator=self.generator).tolist()
            dy = torch.randint(0, 2 * pad + 1, (n,), generator=self.generator).tolist()
            images = torch.stack([padded[i, :, dy[i] : dy[i] + h, dx[i] : dx[i] + w] for i in range(n)])
        return images


class CachedImageData(pl.LightningDataModule):
    """Train/val/test batches over a decoded cache; the splits are index arrays into it."""

    def __init__(
        self,
        pixels: np.ndarray,
        targets: np.ndarray,
        splits: dict[str, np.ndarray],
        *,
        batch_size: int = 64,
        augment: Augment | None = None,
        seed: int = 0,
        mean: tuple[float, ...] = IMAGENET_MEAN,
        std: tuple[float, ...] = IMAGENET_STD,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.pixels, self.targets, self.splits = pixels, targets, splits
        self.batch_size, self.augment, self.seed = batch_size, augment or Augment(), seed
        self.mean, self.std, self.channels_last = mean, std, channels_last

    def _batches(self, split: str, train: bool) -> Batches:
        return Batches(
            self.pixels,
            self.targets,
            self.splits[split],
            self.batch_size,
            shuffle=train,
            augment=self.augment if train else None,
            seed=self.seed,
            mean=self.mean,
            std=self.std,
            channels_last=self.channels_last,
        )

    def train_dataloader(self) -> Batches:
        return self._batches("train", True)

    def val_dataloader(self) -> Batches:
        return self._batches("val", False)

    def test_dataloader(self) -> Batches:
        return self._batches("test" if len(self.splits.get("test", [])) else "val", False)
