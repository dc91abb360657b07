"""Models by name, one interface: ``build(arch, num_classes, pretrained)``.

Pretrained weights are taken from the local torch cache when a person has them there; nothing is
ever downloaded (a clear message, then training from scratch).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import torch
import torchvision
from torch import nn

from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)


def _resnet(factory: Callable[..., nn.Module]) -> Callable[[int], nn.Module]:
    def make(num_classes: int) -> nn.Module:
        return factory(weights=None, num_classes=num_classes)

    return make


ARCHITECTURES: dict[str, tuple[Callable[[int], nn.Module], str]] = {
    # name -> (builder, torchvision weights enum name); the classifier head is in HEADS
    "resnet18": (_resnet(torchvision.models.resnet18), "ResNet18_Weights"),
    "resnet34": (_resnet(torchvision.models.resnet34), "ResNet34_Weights"),
    "resnet50": (_resnet(torchvision.models.resnet50), "ResNet50_Weights"),
    "mobilenet_v3_small": (_resnet(torchvision.models.mobilenet_v3_small), "MobileNet_V3_Small_Weights"),
    "efficientnet_b0": (_resnet(torchvision.models.efficientnet_b0), "EfficientNet_B0_Weights"),
}


# The attribute holding each architecture's classifier head; everything else is the backbone.
HEADS = {"resnet18": "fc", "resnet34": "fc", "resnet50": "fc", "mobilenet_v3_small": "classifier",
         "efficientnet_b0": "classifier"}  # fmt: skip


def backbone(model: nn.Module, arch: str) -> list[nn.Module]:
    """The modules of ``model`` that a fine-tune freezes: all but the classifier head."""
    return [module for name, module in model.named_children() if name != HEADS[arch]]


def build(arch: str, num_classes: int, *, pretrained: bool = False) -> nn.Module:
    if arch not in ARCHITECTURES:
        raise WorkbenchError(f"unknown architecture {arch!r}; choose one of {', '.join(ARCHITECTURES)}")
    builder, weights_name = ARCHITECTURES[arch]
    model = builder(num_classes)
    if pretrained:
        _load_local_weights(model, weights_name)
    return model


def _load_local_weights(model: nn.Module, weights_name: str) -> None:
    """ImageNet weights from the local torch cache, all but the classifier; never downloaded."""
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
