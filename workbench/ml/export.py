"""Export a trained classifier so any program with onnxruntime, numpy and Pillow can use it.

One directory: ``model.onnx`` (one self-contained file, a dynamic batch axis), ``labels.json``
(class names in output order) and ``preprocess.json`` (size, mean, std: RGB, pixels scaled to
0..1, NCHW, bilinear resize). The export is checked by ``onnx.checker`` and against the torch
model on real images before it is called done. Each file is written whole or not at all
(``workbench.ml.files``); ``model.onnx`` gets its name only once checked.
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
from workbench.ml import files

log = logging.getLogger(__name__)
OPSET = 18
MAX_ABS_DIFF = 1e-3  # logits from ONNX Runtime and torch on the same images must agree this well


def export(
    model: nn.Module, out_dir: Path, *, classes: list[str], image_size: int,
    mean: tuple[float, ...], std: tuple[float, ...], check_images: torch.Tensor,
) -> dict[str, Any]:  # fmt: skip
    """Write the export directory; returns what was checked (opset, max abs logit difference)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    files.remove_temporaries(out_dir)  # what an export killed halfway left
    model = model.eval().to(memory_format=torch.contiguous_format)
    example = check_images[:2].contiguous()
    files.write_text(out_dir / "labels.json", json.dumps(classes))
    files.write_text(
        out_dir / "preprocess.json",
        json.dumps({"image_size": [image_size, image_size], "mean": list(mean), "std": list(std)}),
    )
    with files.atomic_path(out_dir / "model.onnx") as path:
        try:
            torch.onnx.export(
                model, (example,), str(path), input_names=["input"], output_names=["logits"],
                dynamic_shapes=({0: torch.export.Dim("batch", min=1, max=4096)},),
                opset_version=OPSET, dynamo=True, external_data=False,
            )  # fmt: skip
            _inline_external_data(path)
        finally:
            _remove_sidecars(path)
        onnx.checker.check_model(str(path), full_check=True)
        difference = parity(model, path, check_images)
        if difference > MAX_ABS_DIFF:
            raise WorkbenchError(
                f"the ONNX export disagrees with the model (max |logit diff| {difference:.2e})"
            )
    return {
        "opset": OPSET,
        "max_abs_logit_diff": difference,
        "files": sorted(p.name for p in out_dir.iterdir()),
    }


def _inline_external_data(path: Path) -> None:
    """Fold any ``.data`` side file into the model: a person downloading one file must get a model."""
    if not _sidecars(path):
        return
    proto = onnx.load(str(path), load_external_data=True)
    onnx.save_model(proto, str(path), save_as_external_data=False)


def _sidecars(path: Path) -> list[Path]:
    return [p for p in path.parent.iterdir() if p.name.startswith(path.name) and p != path]


def _remove_sidecars(path: Path) -> None:
    for sidecar in _sidecars(path):
        sidecar.unlink(missing_ok=True)


def parity(model: nn.Module, path: Path, images: torch.Tensor) -> float:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    with torch.no_grad():
        expected = model(images.contiguous()).numpy()
    actual = session.run(None, {session.get_inputs()[0].name: images.contiguous().numpy()})[0]
    return float(np.abs(actual - expected).max())
