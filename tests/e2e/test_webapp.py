"""The model in the browser, for real: ResNet18s trained on the digits, exported as web apps,
served by `python -m http.server` and driven in headless Chromium, compared with ONNX Runtime on
the server on the same files. Parity (float and int8; the digits' test split and 200 colour
photos), offline after one visit, and a class taught on the device brought back as a model.

Two models are trained for the module (all ten digits with an int8 export, and digits 0-4),
about two minutes on two cores; the figures are printed (docs/benchmarks.md has them).
WEBAPP_SCREENSHOTS=DIR also saves the app's picture (docs/webapp.png).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image as PILImage

from tests import builders, services
from tests.conftest import FAST_JOBS
from tests.e2e.browser import chromium
from tests.webapp import classify, open_app, served
from workbench.api import Workbench
from workbench.ml.predict import OnnxPredictor
from workbench.ml.quantize import INT8_FILE

pytestmark = pytest.mark.slow
AGREEMENT, MAX_DIFF = 0.995, 1e-3  # the parity targets
TRAIN = {"epochs": 8, "image_size": 32, "batch_size": 128, "hflip": False}


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    bench = builders.digits_workbench(tmp_path_factory.mktemp("webapp"), FAST_JOBS)
    yield bench
    bench.close()
    services.kill_local_worker(bench.settings)


def _train(bench: Workbench, view: Any, **params: Any) -> int:
    info = bench.train(view, **TRAIN, **params).wait(timeout=900)
    assert info.state == "succeeded", info.error
    return int(info.result["model_id"])


@pytest.fixture(scope="module")
def digits_model(bench: Workbench) -> int:
    return _train(bench, "digits", name="digits", int8=True)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as browser:
        yield browser


def _files(bench: Workbench, view: Any, folder: Path) -> list[tuple[Path, str]]:
    """The view's images as files a person would pick (``<id>.png``), with their labels."""
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for record in view:
        target = folder / f"{record.id}.png"
        shutil.copyfile(bench.catalog.store.blob_path(record.sha256), target)
        out.append((target, record.label))
    return out


def _server(export: Path, model_file: str, files: list[Path]) -> np.ndarray:
    """Server ONNX Runtime's probabilities (one thread), as the workbench predicts."""
    predictor = OnnxPredictor(export, threads=1, model_file=model_file)
    rows = []
    for path in files:
        with PILImage.open(path) as image:
            rows.append(predictor.probabilities([image])[0])
    return np.stack(rows)


def _compare(browser_results: list[dict[str, Any]], server: np.ndarray) -> dict[str, float]:
    ours = np.array([r["probabilities"] for r in browser_results])
    return {
        "images": len(ours),
        "top1_agreement": float((ours.argmax(1) == server.argmax(1)).mean()),
        "max_abs_diff": float(np.abs(ours - server).max()),
    }


@pytest.mark.parametrize("int8", [False, True], ids=["float", "int8"])
def test_the_browser_predicts_as_the_server_does(
    bench: Workbench, digits_model: int, browser: Any, tmp_path: Path, int8: bool
) -> None:
    app = bench.export_web(digits_model, tmp_path / "app", int8=int8)
    test_split = _files(bench, bench.dataset("digits").filter(split="test"), tmp_path / "test")
    colour = builders.colour_digits([(p, label) for p, label in test_split], tmp_path / "colour")
    export = bench.export_folder(digits_model)
    model_file = INT8_FILE if int8 else "model.onnx"
    with served(app) as url:
        context, page, outside = open_app(browser, url)
        figures = {}
        for name, files in (("digits test split", [p for p, _ in test_split]), ("colour photos", colour)):
            results = classify(page, files)
            assert [r["name"] for r in results] == [f.name for f in files]
            figures[name] = _compare(results, _server(export, model_file, files))
            for fmt in ("png", "jpg"):
                picked = [i for i, f in enumerate(files) if f.suffix == f".{fmt}"]
                if picked and name == "colour photos":
                    server = _server(export, model_file, [files[i] for i in picked])
                    figures[f"{name}, {fmt}"] = _compare([results[i] for i in picked], server)
        with page.expect_download() as download:
            page.click("#csv")  # the table of a folder's predictions, as a CSV file
        rows = download.value.path().read_text().splitlines()
        assert len(rows) == 1 + len(colour) and rows[0].startswith("file,label,probability")
        context.close()
    print(f"\nparity, {'int8' if int8 else 'float'}: {json.dumps(figures, indent=1)}")
    assert outside == [], "the app asked for something outside its folder"
    for name in ("digits test split", "colour photos"):
        assert figures[name]["top1_agreement"] >= AGREEMENT, figures
        assert figures[name]["max_abs_diff"] < MAX_DIFF, figures


def test_the_app_works_offline_after_one_visit(
    bench: Workbench, digits_model: int, browser: Any, tmp_path: Path
) -> None:
    app = bench.export_web(digits_model, tmp_path / "app")
    photo = _files(bench, bench.dataset("digits").filter(split="test"), tmp_path / "test")[0][0]
    with served(app) as url:
        context, page, _ = open_app(browser, url)
        page.wait_for_function("navigator.serviceWorker.controller !== null", timeout=120_000)
        before = classify(page, [photo])[0]["probabilities"]
    # The server is gone, and the browser is offline: everything comes from the service worker.
    context.set_offline(True)
    page.reload()
    page.wait_for_selector("body[data-ready='1']", timeout=120_000)
    after = classify(page, [photo])[0]["probabilities"]
    context.close()
    assert np.allclose(before, after, atol=1e-7)


def test_a_class_taught_in_the_browser_comes_back_as_a_model(
    bench: Workbench, browser: Any, tmp_path: Path
) -> None:
    digits = bench.dataset("digits")
    parent = _train(bench, digits.filter(label=["0", "1", "2", "3", "4"]), name="digits 0-4")
    app = bench.export_web(parent, tmp_path / "app")
    fives = _files(bench, digits.filter(label="5"), tmp_path / "fives")
    taught, others = [p for p, _ in fives[:20]], [p for p, _ in fives[20:]]
    known = _files(bench, digits.filter(label=["0", "1", "2", "3", "4"], split="test"), tmp_path / "known")
    known_files, known_labels = [p for p, _ in known], [label for _, label in known]
    before = _accuracy(
        _server(bench.export_folder(parent), "model.onnx", known_files), known_labels, parent, bench
    )
    with served(app) as url:
        context, page, _ = open_app(browser, url)
        page.fill("#teach-label", "5")
        page.set_input_files("#teach", [str(p) for p in taught])
        page.wait_for_selector("#train:not([disabled])")
        page.click("#train")
        page.wait_for_selector("body[data-trained='1']", state="attached", timeout=120_000)
        trained_status = page.inner_text("#status")
        on_fives = classify(page, others)
        on_known = classify(page, known_files)
        with page.expect_download() as download:
            page.click("#export-head")
        head = tmp_path / "head.json"
        download.value.save_as(head)
        screenshot(page, others[0])
        context.close()
    labels = on_fives[0]["labels"]
    assert labels == ["0", "1", "2", "3", "4", "5"]
    five_accuracy = float(np.mean([labels[int(np.argmax(r["probabilities"]))] == "5" for r in on_fives]))
    known_after = float(
        np.mean(
            [
                labels[int(np.argmax(r["probabilities"]))] == y
                for r, y in zip(on_known, known_labels, strict=True)
            ]
        )
    )
    child = bench.import_head(parent, head)
    model = bench.model(child)
    assert model.classes == labels and model.metrics["parent_model_id"] == parent
    server = _server(bench.export_folder(child), "model.onnx", others + known_files)
    back = _compare(on_fives + on_known, server)
    print(f"\npersonalise: {trained_status}; accuracy on the other {len(others)} fives "
          f"{five_accuracy:.1%}; digits 0-4 test split {before:.1%} -> {known_after:.1%}; "
          f"brought back: {json.dumps(back)}")  # fmt: skip
    assert back["top1_agreement"] == 1.0 and back["max_abs_diff"] < MAX_DIFF, back
    assert five_accuracy >= 0.8 and known_after >= before - 0.05


def _accuracy(probabilities: np.ndarray, labels: list[str], model_id: int, bench: Workbench) -> float:
    classes = bench.model(model_id).classes
    return float(np.mean([classes[i] == y for i, y in zip(probabilities.argmax(1), labels, strict=True)]))


def screenshot(page: Any, photo: Path) -> None:
    """The app with one photo classified, for the README, when WEBAPP_SCREENSHOTS names a folder."""
    folder = os.environ.get("WEBAPP_SCREENSHOTS")
    if not folder:
        return
    classify(page, [photo])
    page.set_viewport_size({"width": 900, "height": 760})
    page.screenshot(path=str(Path(folder) / "webapp.png"), full_page=True)
