"""Export a trained classifier so any program with onnxruntime, numpy and Pillow can use it.

One directory: ``model.onnx`` (one self-contained file, a dynamic batch axis), ``labels.json``
(class names in output order) and ``preprocess.json`` (size, mean, std: RGB, pixels scaled to
0..1, NCHW, bilinear resize). The export is checked by ``onnx.checker`` and against the torch
model on real images before it is called done.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
import torch
from torch import nn

from workbench.errors import WorkbenchError

log = logging.getLogger(__name__)
OPSET = 18
MAX_ABS_DIFF = 1e-3  # logits from ONNX Runtime and torch on the same images must agree this well


def export(
    model: nn.Module, out_dir: Path, *, classes: list[str], image_size: int,
    mean: tuple[float, ...], std: tuple[float, ...], check_images: torch.Tensor,
) -> dict[str, Any]:  # fmt: skip
    """Write the export directory; returns what was checked (opset, max abs logit difference)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    path = out_dir / "model.onnx"
    model = model.eval().to(memory_format=torch.contiguous_format)
    example = check_images[:2].contiguous()
    torch.onnx.export(
        model, (example,), str(path), input_names=["input"], output_names=["logits"],
        dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
        opset_version=OPSET, dynamo=True, external_data=False,
    )  # fmt: skip
    _inline_external_data(path)
    onnx.checker.check_model(str(path), full_check=True)
    (out_dir / "labels.json").write_text(json.dumps(classes))
    (out_dir / "preprocess.json").write_text(
        json.dumps({"image_size": [image_size, image_size], "mean": list(mean), "std": list(std)})
    )
    difference = parity(model, path, check_images)
    if difference > MAX_ABS_DIFF:
        raise WorkbenchError(f"the ONNX export disagrees with the model (max |logit diff| {difference:.2e})")
    return {
        "opset": OPSET,
        "max_abs_logit_diff": difference,
        "files": sorted(p.name for p in out_dir.iterdir()),
    }


def _inline_external_data(path: Path) -> None:
    """Fold any ``.data`` side file into the model: a person downloading one file must get a model."""
    sidecars = [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]
    if not sidecars:
        return
    proto = onnx.load(str(path), load_external_data=True)
    onnx.save_model(proto, str(path), save_as_external_data=False)
    for sidecar in sidecars:
        sidecar.unlink()


def parity(model: nn.Module, path: Path, images: torch.Tensor) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(images.contiguous()).numpy()
    actual = session.run(None, {session.get_inputs()[0].name: images.contiguous().numpy()})[0]
    return float(np.abs(actual - expected).max())
