"""The export directory is written whole: ``model.onnx`` gets its name only once checked, and a
writer dying halfway (a full disk) leaves neither a cut-short file nor a temporary one."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import nn

from workbench.errors import WorkbenchError
from workbench.ml import export as export_module
from workbench.ml import quantize
from workbench.ml.export import export
from workbench.ml.predict import OnnxPredictor


def tiny_model() -> nn.Module:
    torch.manual_seed(0)
    layers = [nn.Conv2d(3, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(4, 2)]
    return nn.Sequential(*layers)


def export_to(folder: Path) -> dict[str, Any]:
    return export(
        tiny_model(), folder, classes=["cat", "dog"], image_size=8, mean=(0.5,) * 3, std=(0.25,) * 3,
        check_images=torch.randn(4, 3, 8, 8),
    )  # fmt: skip


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    folder = tmp_path_factory.mktemp("export")
    return folder, export_to(folder)


def test_an_export_is_its_three_files_and_nothing_else(exported: tuple[Path, dict[str, Any]]) -> None:
    folder, checked = exported
    assert checked["files"] == sorted(os.listdir(folder)) == ["labels.json", "model.onnx", "preprocess.json"]
    assert json.loads((folder / "labels.json").read_text()) == ["cat", "dog"]
    assert OnnxPredictor(folder).logits(np.zeros((2, 3, 8, 8), np.float32)).shape == (2, 2)


def test_an_export_that_fails_its_check_leaves_no_model_under_the_real_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_module, "parity", lambda *a: 1.0)  # ONNX and torch disagree
    with pytest.raises(WorkbenchError, match="disagrees"):
        export_to(tmp_path)
    assert "model.onnx" not in os.listdir(tmp_path)
    assert not [name for name in os.listdir(tmp_path) if name.startswith(".")]


def test_an_int8_export_cut_short_by_a_full_disk_leaves_no_file(
    exported: tuple[Path, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    import onnxruntime.quantization

    def full_disk_halfway(model_input: str, model_output: str, *args: Any, **kwargs: Any) -> None:
        Path(model_output).write_bytes(Path(model_input).read_bytes()[:1000])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(onnxruntime.quantization, "quantize_static", full_disk_halfway)
    folder, _ = exported
    calibration = [np.random.default_rng(0).standard_normal((4, 3, 8, 8)).astype(np.float32)]
    with pytest.raises(OSError, match="No space"):
        quantize.quantize_int8(folder, calibration)
    assert sorted(os.listdir(folder)) == ["labels.json", "model.onnx", "preprocess.json"]
