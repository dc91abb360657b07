"""Fine-tune mode: the backbone stays as it was while only the head learns, then trains too."""

from __future__ import annotations

import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, TensorDataset

from workbench.ml.models import backbone
from workbench.ml.train import Classifier, FrozenBackboneFirst


class Snapshots(pl.Callback):
    """The model's weights at the start of training and at the end of every epoch."""

    def __init__(self) -> None:
        self.states: list[dict[str, torch.Tensor]] = []

    def _take(self, module: pl.LightningModule) -> None:
        self.states.append({k: v.detach().clone() for k, v in module.model.state_dict().items()})

    def on_train_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._take(module)

    def on_train_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        self._take(module)


def changed(before: dict[str, torch.Tensor], after: dict[str, torch.Tensor], prefix: str) -> bool:
    return any(
        not torch.equal(before[k], after[k])
        for k in before
        if k.startswith(prefix) and not k.endswith("num_batches_tracked")
    )


def test_the_backbone_is_frozen_for_the_first_epochs_then_trains() -> None:
    torch.manual_seed(0)
    images, labels = torch.randn(32, 3, 16, 16), torch.randint(0, 3, (32,))
    loader = DataLoader(TensorDataset(images, labels), batch_size=8)
    module = Classifier("resnet18", 3, lr=1e-2, weight_decay=5e-4, epochs=3, steps_per_epoch=len(loader))
    snapshots = Snapshots()
    trainer = pl.Trainer(
        max_epochs=3, accelerator="cpu", logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[FrozenBackboneFirst(2, "resnet18"), snapshots],
    )  # fmt: skip
    trainer.fit(module, train_dataloaders=loader)
    start, first, second, third = snapshots.states
    for before, after in [(start, first), (first, second)]:
        assert changed(before, after, "fc."), "the head learns while the backbone is frozen"
        assert not changed(before, after, "layer1."), "a frozen backbone must not move"
        assert not changed(before, after, "bn1."), "frozen batch norm keeps its running statistics"
    assert changed(second, third, "layer1.") and changed(second, third, "fc.")
    assert all(p.requires_grad for m in backbone(module.model, "resnet18") for p in m.parameters())
