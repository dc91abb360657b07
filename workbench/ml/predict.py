"""ONNX Runtime predictions from an export directory, exactly as an outside program would make
them: only ``model.onnx``, ``labels.json`` and ``preprocess.json`` are read."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import onnxruntime as ort
from PIL import Image


class OnnxPredictor:
    def __init__(self, export_dir: Path, *, threads: int = 0, model_file: str = "model.onnx") -> None:
        export_dir = Path(export_dir)
        self.classes: list[str] = json.loads((export_dir / "labels.json").read_text())
        pre = json.loads((export_dir / "preprocess.json").read_text())
        self.size = tuple(pre["image_size"])
        self.mean = np.array(pre["mean"], np.float32).reshape(1, 3, 1, 1)
        self.std = np.array(pre["std"], np.float32).reshape(1, 3, 1, 1)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads  # 0: ONNX Runtime's choice (a thread per core)
        self.session = ort.InferenceSession(
            str(export_dir / model_file), options, providers=["CPUExecutionProvider"]
        )
        self.input = self.session.get_inputs()[0].name

    def preprocess(self, images: Sequence[Image.Image]) -> np.ndarray:
        h, w = self.size
        batch = np.stack(
            [np.asarray(i.convert("RGB").resize((w, h), Image.Resampling.BILINEAR)) for i in images]
        )
        return ((batch.transpose(0, 3, 1, 2).astype(np.float32) / 255) - self.mean) / self.std

    def logits(self, batch: np.ndarray) -> np.ndarray:
        return self.session.run(None, {self.input: np.ascontiguousarray(batch, np.float32)})[0]

    def probabilities(self, images: Sequence[Image.Image]) -> np.ndarray:
        logits = self.logits(self.preprocess(images))
        exp = np.exp(logits - logits.max(1, keepdims=True))
        return exp / exp.sum(1, keepdims=True)

    def top_k(self, image: Image.Image, k: int = 5) -> list[tuple[str, float]]:
        """One image's best ``k`` labels with their probabilities: what the dashboard shows."""
        probabilities = self.probabilities([image])[0]
        best = np.argsort(-probabilities)[:k]
        return [(self.classes[i], float(probabilities[i])) for i in best]
