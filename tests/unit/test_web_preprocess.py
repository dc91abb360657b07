"""The web app's preprocessing (web/src/preprocess.js, run by Node) gives exactly the bytes and
floats the server's (Pillow's bilinear resize, then OnnxPredictor's normalisation) gives, for
upscaling, downscaling, one side only, odd sizes, and either order of Pillow's two passes."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SOURCE = Path(__file__).resolve().parents[2] / "web" / "src" / "preprocess.js"
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
RUN = """
import { resizeBilinear, preprocess } from %s;
let text = "";
for await (const chunk of process.stdin) text += chunk;
const out = JSON.parse(text).map(({ rgba, width, height, size }) => {
  const pixels = new Uint8ClampedArray(Buffer.from(rgba, "base64"));
  const resized = resizeBilinear(pixels, width, height, size[1], size[0]);
  const tensor = preprocess(pixels, width, height, { image_size: size, mean: %s, std: %s });
  const base64 = (bytes) => Buffer.from(bytes).toString("base64");
  return { resized: base64(resized), tensor: base64(tensor.buffer) };
});
console.log(JSON.stringify(out));
"""
CASES = [  # (width, height) of the photo, then the model's (height, width)
    ((8, 8), (32, 32)),  # the digits: upscaled
    ((100, 37), (32, 32)),
    ((640, 480), (224, 224)),
    ((33, 200), (64, 64)),  # the height shrinks most: Pillow 13 runs the vertical pass first
    ((66, 73), (9, 33)),  # it shrinks most, but not twice the width: horizontal first
    ((32, 32), (32, 32)),  # the model's size already: untouched
    ((1, 1), (3, 5)),
    ((224, 224), (100, 224)),  # one side only
]


def test_the_browser_preprocessing_matches_the_servers_exactly() -> None:
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed (the web app's code runs in Node for this test)")
    rng = np.random.default_rng(0)
    photos = [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for (w, h), _ in CASES]
    request = [
        {
            "rgba": base64.b64encode(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).decode(),
            "width": w, "height": h, "size": list(size),
        }
        for rgb, ((w, h), size) in zip(photos, CASES, strict=True)
    ]  # fmt: skip
    script = RUN % (json.dumps(SOURCE.as_uri()), json.dumps(MEAN), json.dumps(STD))
    done = subprocess.run(
        [node, "--input-type=module", "-e", script], input=json.dumps(request), capture_output=True,
        text=True, timeout=60, check=True,
    )  # fmt: skip
    mean = np.array(MEAN, np.float32).reshape(1, 3, 1, 1)
    std = np.array(STD, np.float32).reshape(1, 3, 1, 1)
    for rgb, (_, (h, w)), answer in zip(photos, CASES, json.loads(done.stdout), strict=True):
        pillow = np.asarray(Image.fromarray(rgb).resize((w, h), Image.Resampling.BILINEAR))
        ours = np.frombuffer(base64.b64decode(answer["resized"]), np.uint8).reshape(h, w, 4)
        assert np.array_equal(ours[..., :3], pillow), f"{rgb.shape[1]}x{rgb.shape[0]} to {w}x{h}"
        server = ((pillow[None].transpose(0, 3, 1, 2).astype(np.float32) / 255) - mean) / std
        tensor = np.frombuffer(base64.b64decode(answer["tensor"]), np.float32).reshape(1, 3, h, w)
        assert np.array_equal(tensor, server)
