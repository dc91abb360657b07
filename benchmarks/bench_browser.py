"""Browser benchmark: the exported web app's latency per image (onnxruntime-web, WebAssembly SIMD,
one thread, in headless Chromium) against ONNX Runtime on the server on one thread, same images,
same run.

Run from the repository root (no services: the embedded default; the web app built by
`make install`)::

    PYTHONPATH=. python benchmarks/bench_browser.py [--images 32] [--rounds 3]

Two ResNet18s exported as training exports them (random weights: the cost is the architecture's),
at 32 px (the digits' size) and 224 px, each as float and as static int8. For each, after a
warm-up of every image on both sides, rounds alternate: the browser classifies the images one at
a time as a person's picks are (decode, Pillow's resize in JS, the model in a Web Worker), then
the server does the same images one at a time (Pillow decode and resize, ``OnnxPredictor`` with
one intra-op thread). Printed: p50 per image end to end and for the model alone on both sides,
their ratios (target: browser <= 3x the server), and where the browser's time goes (decode,
preprocessing, inference, and transfer: the worker's round trip and the page's own work).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from benchmarks.bench_api import export_resnet18, photos, register
from benchmarks.bench_catalog import emit
from tests.e2e.browser import chromium
from tests.webapp import classify, open_app, served
from workbench.api import Workbench
from workbench.config import Settings
from workbench.ml.predict import OnnxPredictor
from workbench.ml.quantize import INT8_FILE, quantize_int8

TARGET = 3.0


def server_round(predictor: OnnxPredictor, files: list[Path]) -> list[dict[str, float]]:
    """Each image as the server predicts one: decode and resize, then the model (ms)."""
    out = []
    for path in files:
        started = time.perf_counter()
        with Image.open(path) as image:
            batch = predictor.preprocess([image])
        ready = time.perf_counter()
        predictor.logits(batch)
        done = time.perf_counter()
        out.append({"total": (done - started) * 1e3, "inference": (done - ready) * 1e3})
    return out


def p50(rows: list[dict[str, float]], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def measure(page: Any, predictor: OnnxPredictor, files: list[Path], rounds: int) -> dict[str, Any]:
    classify(page, files)  # warm-up: the wasm compiled, the session's first runs done
    server_round(predictor, files)
    browser: list[dict[str, float]] = []
    server: list[dict[str, float]] = []
    for _ in range(rounds):
        browser += [r["timings"] for r in classify(page, files)]
        server += server_round(predictor, files)
    for row in browser:
        row["transfer"] = row["total"] - row["decode"] - row["preprocess"] - row["inference"]
    return {"browser": browser, "server": server}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch, chromium() as browser:
        root = Path(scratch)
        bench = Workbench(Settings(data_dir=root / "data", user="bench"))
        files = []
        for i, data in enumerate(photos(args.images)):
            files.append(root / "photos" / f"{i:03d}.jpg")
            files[-1].parent.mkdir(exist_ok=True)
            files[-1].write_bytes(data)
        for size in (32, 224):
            export = export_resnet18(root / f"export-{size}", size)
            rng = np.random.default_rng(0)
            quantize_int8(export, (rng.random((4, 3, size, size), np.float32) for _ in range(4)))
            model_id, _ = register(bench, export, size)
            for int8 in (False, True):
                kind = f"{size} px {'int8' if int8 else 'float'}"
                app = bench.export_web(model_id, root / f"app-{size}-{int8}", int8=int8)
                predictor = OnnxPredictor(export, threads=1, model_file=INT8_FILE if int8 else "model.onnx")
                with served(app) as url:
                    context, page, _ = open_app(browser, url)
                    runtime = page.inner_text("#runtime")
                    times = measure(page, predictor, files, args.rounds)
                    context.close()
                report(kind, runtime, times)
        bench.close()


def report(kind: str, runtime: str, times: dict[str, Any]) -> None:
    browser, server = times["browser"], times["server"]
    total, baseline = p50(browser, "total"), p50(server, "total")
    ratio = total / baseline
    emit(f"{kind}: p50 per image, end to end", total, "ms", baseline=baseline, ratio=ratio,
         target=f"<= {TARGET}", passed=ratio <= TARGET, browser=runtime, images=len(browser))  # fmt: skip
    inference, model_baseline = p50(browser, "inference"), p50(server, "inference")
    emit(f"{kind}: p50 per image, the model alone", inference, "ms", baseline=model_baseline,
         ratio=inference / model_baseline)  # fmt: skip
    parts = {key: round(p50(browser, key), 3) for key in ("decode", "preprocess", "inference", "transfer")}
    emit(f"{kind}: where the browser's time goes (p50 ms)", sum(parts.values()), "ms", **parts)


if __name__ == "__main__":
    main()
