"""The training configuration: the one home of every training default (the job, the CLI, the
dashboard and the API read them here). Plain data, checked; no torch needed to make one."""

from __future__ import annotations

import difflib
from functools import cache
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from workbench.ml.models import ARCHITECTURES

PRECISIONS = ("32-true", "bf16-mixed")


@cache
def native_bf16() -> bool:
    """Whether this CPU has bf16 arithmetic (AVX512_BF16 or AMX-BF16). Without it bf16 autocast is
    emulated and trains slower than fp32 (measured: 86 s against 66 s on the digits). Read from
    the kernel's CPU flags, the same ones torch.cpu.get_capabilities() reports, without torch."""
    try:
        flags = Path("/proc/cpuinfo").read_text().split()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


class TrainConfig(BaseModel):
    """How to train a classifier."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    arch: str = Field("resnet18", description="the architecture: " + ", ".join(ARCHITECTURES))
    epochs: int = Field(10, ge=1, le=1000, description="passes over the training images")
    batch_size: int = Field(64, ge=1, le=4096, description="images per step")
    lr: float = Field(2e-3, gt=0, le=10, description="peak learning rate (one-cycle schedule)")
    weight_decay: float = Field(5e-4, ge=0, le=1, description="AdamW weight decay")
    image_size: int = Field(32, ge=8, le=1024, description="side in pixels images are resized to")
    seed: int = Field(0, ge=0, description="the same seed gives the same model")
    pretrained: bool = Field(False, description="start from ImageNet weights in the local torch cache")
    # "auto" is resolved where the config is made, so a recorded config says what actually ran.
    precision: str = Field(
        "auto", validate_default=True, description="auto (bf16 where the CPU has it), 32-true or bf16-mixed"
    )
    channels_last: bool = Field(True, description="oneDNN's preferred layout for CPU convolutions")
    patience: int = Field(5, ge=1, description="early stopping: epochs without a better val accuracy")
    hflip: bool = Field(True, description="mirrored copies while training (off for digits or text)")
    # Fine-tune mode: only the classifier head learns for this many epochs, then the whole model.
    freeze_epochs: int = Field(0, ge=0, description="train only the classifier head for the first N epochs")

    @field_validator("arch")
    @classmethod
    def _known_arch(cls, arch: str) -> str:
        if arch not in ARCHITECTURES:
            close = difflib.get_close_matches(arch, list(ARCHITECTURES), n=1)
            guess = f" (did you mean {close[0]!r}?)" if close else ""
            raise ValueError(
                f"unknown architecture {arch!r}{guess}; choose one of {', '.join(ARCHITECTURES)}"
            )
        return arch

    @field_validator("precision")
    @classmethod
    def _resolve_precision(cls, precision: str) -> str:
        if precision == "auto":
            return "bf16-mixed" if native_bf16() else "32-true"
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be auto or one of {', '.join(PRECISIONS)}, got {precision!r}")
        return precision

    @model_validator(mode="after")
    def _backbone_trains(self) -> TrainConfig:
        if self.freeze_epochs >= self.epochs:
            raise ValueError(
                f"freeze_epochs must be fewer than epochs ({self.epochs}), got {self.freeze_epochs}: "
                "the backbone has to train for an epoch at least"
            )
        return self
