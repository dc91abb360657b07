"""Models by name, one registry: ``build(arch, num_classes, pretrained)``.

The registry itself needs no torch (a client checking a training request does not load it);
torchvision is imported when a model is built. Pretrained weights are taken from the local torch
cache when a person has them there; nothing is ever downloaded (a clear message, then training
from scratch).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.errors import WorkbenchError

if TYPE_CHECKING:
    from torch import nn

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Architecture:
    factory: str  # the torchvision.models function
    weights: str  # its weights enum, for pretrained weights from the local cache
    head: str  # the attribute holding the classifier head; everything else is the backbone


ARCHITECTURES: dict[str, Architecture] = {
    "resnet18": Architecture("resnet18", "ResNet18_Weights", "fc"),
    "resnet34": Architecture("resnet34", "ResNet34_Weights", "fc"),
    "resnet50": Architecture("resnet50", "ResNet50_Weights", "fc"),
    "mobilenet_v3_small": Architecture("mobilenet_v3_small", "MobileNet_V3_Small_Weights", "classifier"),
    "efficientnet_b0": Architecture("efficientnet_b0", "EfficientNet_B0_Weights", "classifier"),
}


def backbone(model: nn.Module, arch: str) -> list[nn.Module]:
    """The modules of ``model`` that a fine-tune freezes: all but the classifier head."""
    return [module for name, module in model.named_children() if name != ARCHITECTURES[arch].head]


def build(arch: str, num_classes: int, *, pretrained: bool = False) -> nn.Module:
    import torchvision

    if arch not in ARCHITECTURES:
        raise WorkbenchError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    spec = ARCHITECTURES[arch]
    model: nn.Module = getattr(torchvision.models, spec.factory)(weights=None, num_classes=num_classes)
    if pretrained:
        _load_local_weights(model, spec.weights)
    return model


def _load_local_weights(model: nn.Module, weights_name: str) -> None:
    """ImageNet weights from the local torch cache, all but the classifier; never downloaded."""
    import torch
    import torchvision

    weights = getattr(torchvision.models, weights_name).DEFAULT
    path = Path(torch.hub.get_dir()) / "checkpoints" / Path(weights.url).name
    if not path.exists():
        log.warning("no pretrained weights at %s (nothing is downloaded): training from scratch", path)
        return
    state = torch.load(path, map_location="cpu", weights_only=True)
    own = model.state_dict()
    usable = {k: v for k, v in state.items() if k in own and own[k].shape == v.shape}
    model.load_state_dict(usable, strict=False)
    log.info("loaded %d of %d tensors from %s", len(usable), len(own), path)
