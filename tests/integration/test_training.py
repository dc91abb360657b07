"""Training, evaluation and export on the embedded default, for real: the digits, a real
ResNet18, real checkpoints, an ONNX file read by a program that imports nothing of ours.

One model is trained for the module (about a minute); the other tests train briefly or fail early.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests import builders, services
from tests.conftest import FAST_JOBS as FAST
from workbench.api import Workbench
from workbench.errors import TrainingError

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    root = tmp_path_factory.mktemp("digits")
    bench = builders.digits_workbench(root, FAST)
    yield bench
    bench.close()
    services.kill_local_worker(bench.settings)


@pytest.fixture(scope="module")
def trained(digits: Workbench) -> dict[str, Any]:
    job = digits.train(
        "digits", name="digits", epochs=8, image_size=32, batch_size=128, hflip=False, int8=True
    )
    info = job.wait(timeout=600)
    assert info.state == "succeeded", info.error
    return next(m for m in digits.models() if m["id"] == info.result["model_id"])


def test_training_on_digits_is_accurate_and_records_one_model(digits: Workbench, trained: dict) -> None:
    assert trained["metrics"]["accuracy"] >= 0.98, trained
    assert [m["id"] for m in digits.models()] == [trained["id"]]
    assert trained["train_images"] == 1_438 and trained["classes"] == 10
    from workbench.registry import get_model

    row = get_model(digits.catalog, trained["id"])
    assert len(row.metrics["confusion"]) == 10 and row.metrics["split_sizes"]["test"] == 179
    assert set(row.metrics["by_attribute"]) >= {"parity", "loop"}
    assert row.metrics["export"]["max_abs_logit_diff"] < 1e-3
    assert row.metrics["leakage"] == 0
    curve = row.metrics["epochs"]
    assert [p["epoch"] for p in curve] == list(range(1, 9)) and curve[-1]["val_acc"] > 0.9


EXPORT_USER = """
import json, sys
import numpy as np, onnxruntime as ort
from PIL import Image
export, cases = sys.argv[1], json.loads(sys.argv[2])
model_file = sys.argv[3] if len(sys.argv) > 3 else "model.onnx"
labels = json.load(open(export + "/labels.json"))
pre = json.load(open(export + "/preprocess.json"))
h, w = pre["image_size"]
mean = np.array(pre["mean"], np.float32).reshape(1, 3, 1, 1)
std = np.array(pre["std"], np.float32).reshape(1, 3, 1, 1)
batch = np.stack([np.asarray(Image.open(p).convert("RGB").resize((w, h), Image.BILINEAR)) for p, _ in cases])
x = ((batch.transpose(0, 3, 1, 2).astype(np.float32) / 255) - mean) / std
session = ort.InferenceSession(export + "/" + model_file, providers=["CPUExecutionProvider"])
logits = session.run(None, {session.get_inputs()[0].name: x})[0]
right = sum(labels[i] == label for i, (_, label) in zip(logits.argmax(1), cases))
ours = sorted(m for m in sys.modules if m.split(".")[0] in ("workbench", "torch", "torchvision"))
print(json.dumps({"accuracy": right / len(cases), "ours": ours}))
"""


def _cases(digits: Workbench) -> list[tuple[str, str]]:
    """Held-back test images as (file, label)."""
    test = digits.dataset("digits").filter(split="test")
    return [(str(digits.catalog.store.blob_path(r.sha256)), r.label) for r in test]


def test_the_int8_export_is_scored_and_loads_like_the_float_one(digits: Workbench, trained: dict) -> None:
    int8 = trained["metrics"]["int8"]
    assert int8["file"] == "model.int8.onnx" and int8["accuracy"] >= 0.95, int8
    assert abs(int8["accuracy_change"] - (int8["accuracy"] - trained["metrics"]["accuracy"])) < 1e-9
    export = Path(trained["export_dir"])
    program = [sys.executable, "-c", EXPORT_USER, str(export), json.dumps(_cases(digits)), "model.int8.onnx"]
    done = subprocess.run(program, capture_output=True, text=True, timeout=120, cwd="/")
    assert done.returncode == 0, done.stderr
    assert abs(json.loads(done.stdout)["accuracy"] - int8["accuracy"]) <= 0.01


def test_the_export_needs_only_onnxruntime_numpy_and_pillow(digits: Workbench, trained: dict) -> None:
    export = Path(trained["export_dir"])
    assert sorted(p.name for p in export.iterdir()) == ["labels.json", "model.ckpt", "model.int8.onnx",
                                                         "model.onnx", "preprocess.json"]  # fmt: skip
    done = subprocess.run([sys.executable, "-c", EXPORT_USER, str(export), json.dumps(_cases(digits))],
                          capture_output=True, text=True, timeout=120, cwd="/")  # fmt: skip
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["ours"] == []
    assert abs(result["accuracy"] - trained["metrics"]["accuracy"]) <= 0.01


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ({"label": "3"}, "one class"),
        ({"label": "nine"}, "no images"),
    ],
)
def test_views_that_cannot_be_trained_fail_with_a_reason(digits: Workbench, spec: dict, reason: str) -> None:
    queued = len(digits.jobs())
    with pytest.raises(TrainingError, match=reason):  # before anything is queued
        digits.train(digits.dataset("digits").filter(spec), epochs=1)
    assert len(digits.jobs()) == queued
    view = {"dataset": "digits", "filter": spec}  # and on the worker, for a row no client checked
    info = services.queue_around_the_client(digits, "train", {"view": view, "epochs": 1}).wait(timeout=120)
    assert info.state == "failed" and reason in (info.error or ""), info


def test_a_fine_tune_that_never_trains_the_backbone_is_refused(digits: Workbench) -> None:
    with pytest.raises(TrainingError, match="freeze_epochs must be"):
        digits.train("digits", epochs=2, freeze_epochs=2)


def test_an_unknown_precision_fails_before_any_work(digits: Workbench) -> None:
    with pytest.raises(TrainingError, match="precision must be auto or one of"):
        digits.train("digits", epochs=1, precision="fp16")


def test_a_class_without_validation_images_is_refused(digits: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 20, "dog": 20, "rare": 1})
    digits.ingest(folder, "pets", split="0.8,0.1,0.1")  # one 'rare' image: it lands in train
    info = digits.train("pets", epochs=1).wait(timeout=120)
    assert info.state == "failed" and "no validation images for 'rare'" in (info.error or ""), info


def test_abort_mid_training_keeps_its_checkpoint(digits: Workbench) -> None:
    job = digits.train("digits", name="aborted", epochs=30, image_size=16, hflip=False)
    services.until(lambda: job.info().metrics.get("curves", {}).get("epochs"), 300, "a first epoch")
    job.abort()
    info = job.wait(timeout=120)
    assert info.state == "aborted" and "checkpoints kept" in info.message, info
    checkpoints = digits.settings.data_dir / "models" / job.id / "checkpoints"
    assert (checkpoints / "last.ckpt").exists()
    assert "aborted" not in [m["name"] for m in digits.models()]


def test_a_killed_training_resumes_from_its_checkpoint_and_records_one_model(digits: Workbench) -> None:
    job = digits.train("digits", name="resumed", epochs=10, image_size=16, hflip=False)
    checkpoint = digits.settings.data_dir / "models" / job.id / "checkpoints" / "last.ckpt"
    services.until(
        lambda: checkpoint.exists() and job.info().progress < 0.7, 300, "a checkpoint mid-training"
    )
    services.kill_local_worker(digits.settings)
    info = job.wait(timeout=600)  # waiting starts a new local worker; its reaper requeues the job
    assert (info.state, info.deliveries) == ("succeeded", 2), info
    assert [m["name"] for m in digits.models()].count("resumed") == 1
    epochs = [p["epoch"] for p in info.metrics["curves"]["epochs"]]
    assert epochs[-1] == 10 and epochs.count(1) == 1  # the second run did not start over


def _killed_mid_training(digits: Workbench, name: str) -> tuple[Any, Path]:
    """A training job whose worker is killed once it has two checkpoints (last and previous)."""
    job = digits.train("digits", name=name, epochs=4, image_size=16, hflip=False)
    folder = digits.settings.data_dir / "models" / job.id / "checkpoints"
    services.until(
        lambda: (folder / "last.prev.ckpt").exists() and job.info().progress < 0.7, 300, "two checkpoints"
    )
    services.kill_local_worker(digits.settings)
    return job, folder


def test_a_killed_training_whose_last_checkpoint_is_cut_short_resumes_from_the_one_before(
    digits: Workbench,
) -> None:
    job, folder = _killed_mid_training(digits, "cut-short")
    last = folder / "last.ckpt"
    with last.open("r+b") as checkpoint:
        checkpoint.truncate(last.stat().st_size // 2)
    info = job.wait(timeout=600)  # a new local worker requeues the job, which resumes
    assert (info.state, info.deliveries) == ("succeeded", 2), info
    epochs = [p["epoch"] for p in info.metrics["curves"]["epochs"]]
    assert epochs[-1] == 4 and epochs.count(1) == 1  # resumed, not started over
    assert len(epochs) > 4  # the epoch whose checkpoint was cut short ran again
    assert sorted(p.name for p in folder.iterdir()) == ["best.ckpt", "last.ckpt"]


def test_a_killed_training_left_with_an_empty_last_checkpoint_starts_over_and_finishes(
    digits: Workbench,
) -> None:
    """What a full disk left on this machine: best.ckpt cut short, last.ckpt empty (EOFError on
    every later run, before)."""
    job, folder = _killed_mid_training(digits, "emptied")
    with (folder / "best.ckpt").open("r+b") as best:
        best.truncate(best.seek(0, 2) * 7 // 10)
    (folder / "last.ckpt").write_bytes(b"")
    (folder / "last.prev.ckpt").unlink()
    info = job.wait(timeout=600)
    assert (info.state, info.deliveries) == ("succeeded", 2), info
    epochs = [p["epoch"] for p in info.metrics["curves"]["epochs"]]
    assert epochs.count(1) == 2 and epochs[-1] == 4  # started over
    assert [m["name"] for m in digits.models()].count("emptied") == 1


def test_the_cli_lists_exports_and_predicts_with_a_model(
    digits: Workbench, trained: dict, tmp_path: Path
) -> None:
    listed = json.loads(services.cli(digits.settings, "models", "--json").stdout)
    ours = next(m for m in listed if m["id"] == trained["id"])
    assert {"id", "name", "arch", "metrics", "export_dir"} <= set(ours) and ours["arch"] == "resnet18"
    copied = services.cli(digits.settings, "export", str(trained["id"]), "--out", str(tmp_path / "copy"))
    assert copied.returncode == 0 and (tmp_path / "copy" / "model.onnx").exists()
    record = next(iter(digits.dataset("digits").filter(split="test", label="7")))
    image = str(digits.catalog.store.blob_path(record.sha256))
    predicted = services.cli(digits.settings, "predict", str(trained["id"]), image, "--json")
    top = json.loads(predicted.stdout)[image]
    assert top[0]["label"] == "7" and len(top) == 3
    queued = json.loads(
        services.cli(digits.settings, "train", "digits", "--epochs", "1", "--no-wait", "--json").stdout
    )
    digits.abort(queued["job"])
    assert digits.job(queued["job"]).wait(timeout=120).state in ("aborted", "succeeded")


def test_batch_prediction_streams_a_view_and_upserts_once(digits: Workbench, trained: dict) -> None:
    from sqlalchemy import func, select

    from workbench.catalog.models import Prediction

    test = digits.dataset("digits").filter(split="test")
    for _ in range(2):  # a second run rewrites the same rows
        info = digits.predict(trained["id"], test, chunk=50, batch_size=16).wait(timeout=300)
        assert info.state == "succeeded", info.error
        assert info.result["predicted"] == 179 and info.result["agreement_with_labels"] >= 0.97
    with digits.catalog.sessions() as session:
        count = session.scalar(select(func.count()).select_from(Prediction))
    assert count == 179


def test_evaluating_on_another_view_stores_metrics_with_the_model(digits: Workbench, trained: dict) -> None:
    from workbench.registry import get_model

    odd = digits.dataset("digits").filter(parity="odd", split="test")
    info = digits.evaluate(trained["id"], odd).wait(timeout=300)
    assert info.state == "succeeded", info.error
    assert info.result["n"] == odd.count() and info.result["accuracy"] >= 0.95
    stored = get_model(digits.catalog, trained["id"]).metrics["evaluations"][odd.to_json()]
    assert stored["n"] == odd.count() and set(stored["per_class"]) == set(map(str, range(10)))
    assert {c for c, m in stored["per_class"].items() if m["support"]} == {"1", "3", "5", "7", "9"}


def test_the_cli_evaluates_and_plots_the_confusion_matrix(
    digits: Workbench, trained: dict, tmp_path: Path
) -> None:
    plot = tmp_path / "confusion.png"
    spec = json.dumps({"split": "test", "label": ["3", "8"]})
    shown = services.cli(
        digits.settings, "evaluate", str(trained["id"]), "digits", "--filter", spec, "--plot", str(plot)
    )
    assert shown.returncode == 0, shown.stderr
    assert "accuracy" in shown.stdout and f"confusion matrix written to {plot}" in shown.stdout
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    as_json = services.cli(
        digits.settings, "evaluate", str(trained["id"]), "digits", "--filter", spec, "--json"
    )
    metrics = json.loads(as_json.stdout)
    expected = digits.dataset("digits").filter(json.loads(spec)).count()
    assert (
        metrics["n"] == expected
        and metrics["per_class"]["3"]["support"] + metrics["per_class"]["8"]["support"] == expected
    )
    missing = services.cli(digits.settings, "evaluate", "999999", "digits")
    assert missing.returncode == 2 and "999999" in missing.stderr


def test_the_registry_publishes_compares_and_deletes(digits: Workbench, trained: dict) -> None:
    assert services.cli(digits.settings, "models", "--publish", str(trained["id"])).returncode == 0
    assert next(m for m in digits.models() if m["id"] == trained["id"])["published"] is True
    compared = json.loads(services.cli(digits.settings, "compare", str(trained["id"]), "--json").stdout)
    assert compared[0]["same_training_images"] and compared[0]["metrics"]["accuracy"] >= 0.98
    quick = digits.train("digits", name="doomed", epochs=1, image_size=16, hflip=False).wait(timeout=300)
    doomed = quick.result["model_id"]
    folder = Path(next(m for m in digits.models() if m["id"] == doomed)["export_dir"]).parent
    assert services.cli(digits.settings, "models", "--delete", str(doomed)).returncode == 0
    assert doomed not in [m["id"] for m in digits.models()] and not folder.exists()
