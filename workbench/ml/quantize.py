"""An optional int8 export: ONNX Runtime static quantization, calibrated on real images.

Static (not dynamic) because a CNN's time is in its convolutions, which dynamic quantization
leaves in float; QDQ with per-channel int8 weights and uint8 activations is ONNX Runtime's
recommended form for x86 (VNNI). The result sits beside ``model.onnx`` as ``model.int8.onnx``;
an outside program loads it the same way, with the same ``preprocess.json``. It is written whole
or not at all (``workbench.ml.files``).
"""

from __future__ import annotations

import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from workbench.ml import files

INT8_FILE = "model.int8.onnx"


def quantize_int8(export_dir: Path, calibration: Iterable[np.ndarray]) -> Path:
    """Write ``export_dir / model.int8.onnx`` from ``model.onnx``, calibrated on ``calibration``
    (batches of preprocessed NCHW float32 images, as the model takes them); returns its path."""
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    class Batches(CalibrationDataReader):
        def __init__(self, batches: Iterator[np.ndarray]) -> None:
            self.batches = batches

        def get_next(self) -> dict[str, np.ndarray] | None:
            batch = next(self.batches, None)
            return None if batch is None else {"input": np.ascontiguousarray(batch, np.float32)}

    target = Path(export_dir) / INT8_FILE
    with tempfile.TemporaryDirectory() as scratch:
        # Shape inference and graph fusions first, as ONNX Runtime's quantization guide asks.
        prepared = Path(scratch) / "prepared.onnx"
        quant_pre_process(str(Path(export_dir) / "model.onnx"), str(prepared))
        with files.atomic_path(target) as partial:
            quantize_static(
                str(prepared), str(partial), Batches(iter(calibration)), quant_format=QuantFormat.QDQ,
                per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
            )  # fmt: skip
    return target
