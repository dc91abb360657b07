"""Training with PyTorch Lightning: the module, the callbacks a job needs, and ``fit``.

``fit`` checkpoints every epoch into ``checkpoint_dir`` and resumes from its ``last.ckpt`` when
one is there, so a redelivered training job continues where its lost worker stopped (a checkpoint
that cannot be read is removed and the one before it used: ``workbench.ml.checkpoints``). A
caller stops it through ``should_stop`` (checked after every batch); it then ends after that batch
with its checkpoints kept.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import BaseFinetuning, Callback, EarlyStopping
from torch import nn

from workbench.errors import TrainingError
from workbench.ml import checkpoints
from workbench.ml.config import TrainConfig
from workbench.ml.models import backbone, build
from workbench.ml.small_maps import use_for_small_maps

log = logging.getLogger(__name__)
Report = Callable[[float, str, dict[str, Any]], None]  # (fraction, message, metrics)


class Classifier(pl.LightningModule):
    def __init__(
        self,
        arch: str,
        num_classes: int,
        lr: float,
        weight_decay: float,
        epochs: int,
        steps_per_epoch: int,
        pretrained: bool = False,
        channels_last: bool = False,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()
        # oneDNN's weight gradients on small maps are slow on some CPUs (workbench.ml.small_maps)
        self.model = use_for_small_maps(build(arch, num_classes, pretrained=pretrained))
        if channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.loss = nn.CrossEntropyLoss(label_smoothing=0.05)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model(images)

    def training_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> torch.Tensor:
        images, targets = batch
        loss = self.loss(self(images), targets)
        self.log("train_loss", loss, prog_bar=True)
        return loss

    def validation_step(self, batch: tuple[torch.Tensor, torch.Tensor], _: int) -> None:
        images, targets = batch
        logits = self(images)
        self.log("val_loss", self.loss(logits, targets), prog_bar=True)
        self.log("val_acc", (logits.argmax(1) == targets).float().mean(), prog_bar=True)

    def configure_optimizers(self) -> Any:
        hp: Any = self.hparams  # what save_hyperparameters() kept: the arguments of __init__
        # The fused kernel updates every tensor in one pass: a quarter of the for-loop's time a
        # step on the CPU here (26 against ~95 ms for ResNet18), the same update.
        fused = self.device.type in ("cpu", "cuda")
        optimizer = torch.optim.AdamW(self.parameters(), lr=hp.lr, weight_decay=hp.weight_decay, fused=fused)
        schedule = torch.optim.lr_scheduler.OneCycleLR(
            optimizer, max_lr=hp.lr, epochs=hp.epochs, steps_per_epoch=max(1, hp.steps_per_epoch)
        )
        return {"optimizer": optimizer, "lr_scheduler": {"scheduler": schedule, "interval": "step"}}


@dataclass
class History:
    epochs: list[dict[str, float]] = field(default_factory=list)
    stopped: bool = False  # by should_stop, not by finishing or early stopping


class JobCallback(Callback):
    """Progress (epoch, step, loss, val accuracy, ETA) to ``report``; stop when ``should_stop``."""

    def __init__(
        self,
        report: Report,
        should_stop: Callable[[], bool],
        history: History,
        on_epoch: Callable[[dict[str, float]], None] | None = None,
    ) -> None:
        self.report, self.should_stop, self.history, self.on_epoch = report, should_stop, history, on_epoch
        self.started = time.monotonic()

    def on_train_batch_end(
        self, trainer: pl.Trainer, module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        total = max(1, trainer.max_epochs or 1) * max(1, trainer.num_training_batches)
        done = trainer.current_epoch * trainer.num_training_batches + batch_idx + 1
        elapsed = time.monotonic() - self.started
        eta = elapsed / done * (total - done)
        loss = float(outputs["loss"]) if isinstance(outputs, dict) else float(outputs)
        if not math.isfinite(loss):  # one non-finite step makes every weight NaN: stop and say so
            raise TrainingError(
                f"training diverged: the loss became {loss} at epoch {trainer.current_epoch + 1}, step "
                f"{batch_idx + 1} (precision {trainer.precision}); try a lower learning rate (--lr) or "
                "--precision 32-true. The checkpoint of the last whole epoch is kept."
            )
        self.report(
            done / total,
            f"epoch {trainer.current_epoch + 1}/{trainer.max_epochs}, "
            f"step {batch_idx + 1}/{trainer.num_training_batches}, loss {loss:.3f}, "
            f"ETA {eta:.0f} s",
            {"loss": loss, "epoch": trainer.current_epoch + 1},
        )
        if self.should_stop():
            self.history.stopped = True
            trainer.should_stop = True

    def on_validation_epoch_end(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        metrics = {k: float(v) for k, v in trainer.callback_metrics.items()}
        point = {"epoch": trainer.current_epoch + 1, **metrics}
        self.history.epochs.append(point)
        if self.on_epoch:
            self.on_epoch(point)


class FrozenBackboneFirst(Callback):
    """Freeze the backbone for the first ``epochs`` epochs, then train everything.

    Decided from the epoch number at every epoch start, so a run resumed from a checkpoint lands
    in the right phase. All parameters stay in the optimizer from the start: AdamW skips the ones
    without gradients, and the one-cycle schedule keeps a single parameter group.
    """

    def __init__(self, epochs: int, arch: str) -> None:
        self.epochs, self.arch = epochs, arch

    def on_train_epoch_start(self, trainer: pl.Trainer, module: pl.LightningModule) -> None:
        modules = backbone(module.model, self.arch)  # type: ignore[arg-type]  # a Classifier's model is a Module
        if trainer.current_epoch < self.epochs:
            BaseFinetuning.freeze(modules, train_bn=False)
        else:
            BaseFinetuning.make_trainable(modules)


def fit(
    data: pl.LightningDataModule,
    num_classes: int,
    config: TrainConfig,
    checkpoint_dir: Path,
    *,
    report: Report | None = None,
    should_stop: Callable[[], bool] | None = None,
    on_epoch: Callable[[dict[str, float]], None] | None = None,
    before_checkpoint: Callable[[], None] | None = None,
    after_checkpoint: Callable[[Path], None] | None = None,
    accumulate: int = 1,
) -> tuple[Classifier, Path, History]:
    """Train; returns the best model (by val accuracy), its checkpoint and the history.
    ``before_checkpoint`` is called before each checkpoint write; what it raises skips that write
    and ends training with that exception. ``after_checkpoint`` gets each checkpoint written.
    ``accumulate``: batches whose gradients make one step (a batch halved for memory)."""
    pl.seed_everything(config.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")
    steps = math.ceil(len(data.train_dataloader()) / accumulate)
    module = Classifier(
        config.arch,
        num_classes,
        config.lr,
        config.weight_decay,
        config.epochs,
        steps,
        config.pretrained,
        config.channels_last,
    )
    history = History()
    best, last, writer = checkpoints.callbacks_and_plugin(checkpoint_dir, before_checkpoint, after_checkpoint)
    callbacks: list[Callback] = [
        best,
        last,
        EarlyStopping(monitor="val_acc", mode="max", patience=config.patience),
    ]
    callbacks.append(
        JobCallback(report or (lambda *a: None), should_stop or (lambda: False), history, on_epoch)
    )
    if config.freeze_epochs:
        callbacks.append(FrozenBackboneFirst(config.freeze_epochs, config.arch))
    trainer = pl.Trainer(
        max_epochs=config.epochs,
        accelerator="auto",
        devices=1,
        precision=config.precision,  # type: ignore[arg-type]  # checked against PRECISIONS in TrainConfig
        callbacks=callbacks,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        deterministic=False,
        default_root_dir=checkpoint_dir,
        # Checkpoints are written by a thread while the next epoch trains; each write is still
        # atomic (a temporary file renamed), so a kill mid-write leaves the previous one whole.
        plugins=[writer],
        accumulate_grad_batches=accumulate,
    )
    resume = checkpoints.prepare_resume(checkpoint_dir)
    trainer.fit(module, datamodule=data, ckpt_path=str(resume) if resume else None)
    checkpoints.finish(checkpoint_dir)
    best_path = Path(best.best_model_path) if best.best_model_path else _latest(checkpoint_dir, resume)
    module.load_state_dict(load_checkpoint_weights(best_path))
    module.eval()
    return module, best_path, history


def _latest(checkpoint_dir: Path, resumed_from: Path | None) -> Path:
    """The last checkpoint there is, when no epoch was judged best (none ran to validation)."""
    last = checkpoint_dir / checkpoints.LAST
    if last.exists() or resumed_from is None:
        return last
    return resumed_from


def load_checkpoint_weights(path: Path) -> dict[str, torch.Tensor]:
    """A Lightning checkpoint's weights, loaded safely (``weights_only``: no pickled code runs)."""
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    return checkpoint["state_dict"]


def steps_for(n: int, batch_size: int) -> int:
    return math.ceil(n / batch_size)
