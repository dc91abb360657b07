"""Training and inference benchmark: workbench against what a person would write by hand.

Run from the repository root (no services needed)::

    PYTHONPATH=. python benchmarks/bench_train.py            # 64 px, one epoch of the digits per side
    PYTHONPATH=. python benchmarks/bench_train.py --quick    # fewer images

Figures (one JSON line each, as bench_catalog):
- training throughput through workbench (Lightning, the tensor cache) against a plain torch loop
  over the same tensors, same model, batch, size and precision: target ratio >= 0.95;
- one epoch with workbench's defaults against torchvision ImageFolder + DataLoader (fp32) reading
  the same images as files: target >= 2x;
- ONNX Runtime against torch eager inference, images/s at batch 32: target >= 1.4x;
- achieved FLOP/s of training steps at 224 px against the matmul rate: target >= 0.75;
- the optional int8 export against the float one: images/s at batch 32 and the change in test
  accuracy, on the digits at 32 px after the demo's training (reported).
The memory of predicting 100,000 images against 1,000 is bench_inference.py's.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
import torchvision
from PIL import Image

from benchmarks.bench_catalog import emit
from workbench.demo import write_digits
from workbench.ml.data import IMAGENET_MEAN, IMAGENET_STD, Augment, CachedImageData
from workbench.ml.export import export
from workbench.ml.train import TrainConfig, fit

SIZE, BATCH = 64, 64


def digits_at(size: int, limit: int, folder: Path) -> tuple[np.ndarray, np.ndarray, Path]:
    images, csv = write_digits(folder)
    labels = {row.split(",")[0]: row.split(",")[1] for row in csv.read_text().splitlines()[1:]}
    files = sorted(images.glob("*.png"), key=lambda p: int(p.stem))[:limit]
    tree = folder / "imagefolder"
    pixels, targets = [], []
    for path in files:
        label = labels[path.stem]
        (tree / label).mkdir(parents=True, exist_ok=True)
        rgb = Image.open(path).convert("RGB")
        rgb.save(tree / label / path.name)
        pixels.append(np.asarray(rgb.resize((size, size), Image.Resampling.BILINEAR)).transpose(2, 0, 1))
        targets.append(int(label))
    return np.stack(pixels), np.array(targets, dtype=np.int64), tree


def workbench_epoch(pixels: np.ndarray, targets: np.ndarray, tmp: Path) -> float:
    """Images/s of one epoch of workbench's fit (after its setup), fp32, no augmentation cost hidden."""
    splits = {"train": np.arange(len(targets)), "val": np.arange(min(64, len(targets)))}
    data = CachedImageData(pixels, targets, splits, batch_size=BATCH, augment=Augment(hflip=False))
    config = TrainConfig(epochs=1, batch_size=BATCH, image_size=SIZE)
    start = time.perf_counter()
    fit(data, 10, config, tmp / "ckpt")
    return len(targets) / (time.perf_counter() - start)


def hand_loop_epoch(pixels: np.ndarray, targets: np.ndarray) -> float:
    """The same epoch as a plain loop: the model, AdamW, the same tensors and batch size."""
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    mean = torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    model.train()
    start = time.perf_counter()
    for i in range(0, len(targets), BATCH):
        x = (torch.from_numpy(pixels[i : i + BATCH]).float() / 255 - mean) / std
        loss = torch.nn.functional.cross_entropy(model(x), torch.from_numpy(targets[i : i + BATCH]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    with torch.no_grad():  # the validation pass workbench's epoch also makes
        model.eval()
        model((torch.from_numpy(pixels[:64]).float() / 255 - mean) / std)
    return len(targets) / (time.perf_counter() - start)


def imagefolder_epoch(tree: Path, n: int) -> float:
    """What a person writes by hand: ImageFolder + DataLoader decoding files every epoch, fp32."""
    transform = torchvision.transforms.Compose([
        torchvision.transforms.Resize((SIZE, SIZE)), torchvision.transforms.ToTensor(),
        torchvision.transforms.Normalize(IMAGENET_MEAN, IMAGENET_STD),
    ])  # fmt: skip
    loader = torch.utils.data.DataLoader(
        torchvision.datasets.ImageFolder(str(tree), transform=transform), batch_size=BATCH, shuffle=True,
        num_workers=2,
    )  # fmt: skip
    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=10)
    optimizer = torch.optim.AdamW(model.parameters(), lr=2e-3)
    start = time.perf_counter()
    for x, y in loader:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return n / (time.perf_counter() - start)


def inference(pixels: np.ndarray, tmp: Path) -> None:
    model = torchvision.models.resnet18(num_classes=10).eval()
    x = (
        torch.from_numpy(pixels[:32]).float() / 255 - torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    ) / torch.tensor(IMAGENET_STD).view(1, 3, 1, 1)
    export(model, tmp / "export", classes=[str(i) for i in range(10)], image_size=SIZE, mean=IMAGENET_MEAN,
           std=IMAGENET_STD, check_images=x)  # fmt: skip
    import onnxruntime as ort

    session = ort.InferenceSession(str(tmp / "export" / "model.onnx"), providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}

    def rate(run, reps: int = 20) -> float:  # type: ignore[no-untyped-def]
        run()
        start = time.perf_counter()
        for _ in range(reps):
            run()
        return reps * 32 / (time.perf_counter() - start)

    with torch.no_grad():
        eager = rate(lambda: model(x))
    onnx_rate = rate(lambda: session.run(None, feed))
    emit("inference, ONNX Runtime vs torch eager (batch 32, 64 px)", onnx_rate, "images/s", baseline=eager,
         ratio=onnx_rate / eager, target=">= 1.4", passed=onnx_rate / eager >= 1.4)  # fmt: skip


def int8_export(tmp: Path, quick: bool) -> None:
    """Train as the demo does (32 px), export, quantize; speed and test accuracy of both files."""
    from workbench.ml.predict import OnnxPredictor
    from workbench.ml.quantize import INT8_FILE, quantize_int8

    pixels, targets, _ = digits_at(32, 1797, tmp / "digits32")
    order = np.random.default_rng(0).permutation(len(targets))
    splits = {"train": order[:1437], "val": order[1437:1617], "test": order[1617:]}
    data = CachedImageData(pixels, targets, splits, batch_size=BATCH, augment=Augment(hflip=False))
    model, _, _ = fit(data, 10, TrainConfig(epochs=2 if quick else 8, image_size=32), tmp / "ckpt32")
    sample = next(iter(data.test_dataloader()))[0][:16]
    export(model.model, tmp / "export32", classes=[str(i) for i in range(10)], image_size=32,
           mean=IMAGENET_MEAN, std=IMAGENET_STD, check_images=sample)  # fmt: skip
    quantize_int8(tmp / "export32", (x.numpy() for x, _ in data.val_dataloader()))
    test = [(x.numpy(), y.numpy()) for x, y in data.test_dataloader()]
    batch = np.ascontiguousarray(test[0][0][:32])
    results = {}
    for name in ("model.onnx", INT8_FILE):
        predictor = OnnxPredictor(tmp / "export32", model_file=name)
        right = sum(int((predictor.logits(x).argmax(1) == y).sum()) for x, y in test)
        predictor.logits(batch)
        start, reps = time.perf_counter(), 50
        for _ in range(reps):
            predictor.logits(batch)
        results[name] = (reps * 32 / (time.perf_counter() - start), right / len(splits["test"]))
    (fp32, fp32_acc), (int8, int8_acc) = results["model.onnx"], results[INT8_FILE]
    emit("inference, int8 ONNX vs float ONNX (batch 32, 32 px)", int8, "images/s", baseline=fp32,
         ratio=int8 / fp32, accuracy_fp32=fp32_acc, accuracy_int8=int8_acc,
         accuracy_change=int8_acc - fp32_acc)  # fmt: skip


def compute_efficiency(steps: int, channels_last: bool) -> None:
    """Achieved FLOP/s of ResNet18 training steps at 224 px, batch 32, fp32, against the matmul
    rate measured here and now (FLOPs counted as torch.utils.flop_counter does)."""
    from torch.utils.flop_counter import FlopCounterMode

    from workbench.ml.models import build

    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    start = time.perf_counter()
    for _ in range(10):
        a @ b
    matmul = 10 * 2 * n**3 / (time.perf_counter() - start)
    model = build("resnet18", 10)
    x, y = torch.randn(32, 3, 224, 224), torch.randint(0, 10, (32,))
    if channels_last:  # oneDNN's preferred layout for CPU convolutions
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3)

    def step() -> None:
        loss = torch.nn.functional.cross_entropy(model(x), y)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    with FlopCounterMode(display=False) as counter:
        step()
    flops = counter.get_total_flops()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    achieved = steps * flops / (time.perf_counter() - start)
    layout = "channels_last" if channels_last else "contiguous"
    figure = f"training compute efficiency (224 px, batch 32, fp32, {layout}) vs matmul rate"
    emit(figure, achieved / 1e9, "GFLOP/s",
         baseline=matmul / 1e9, ratio=achieved / matmul, target=">= 0.75", passed=achieved / matmul >= 0.75,
         gflop_per_step=round(flops / 1e9, 1))  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="512 images instead of 1,797")
    args = parser.parse_args()
    torch.set_num_threads(torch.get_num_threads())
    with tempfile.TemporaryDirectory(prefix="bench_train_") as name:
        tmp = Path(name)
        pixels, targets, tree = digits_at(SIZE, 512 if args.quick else 1797, tmp / "digits")
        hand_loop_epoch(pixels[:128], targets[:128])  # warm the allocator and kernels
        hand = hand_loop_epoch(pixels, targets)
        ours = workbench_epoch(pixels, targets, tmp)
        emit("training throughput, workbench vs a plain loop (fp32, 64 px, batch 64)", ours, "images/s",
             baseline=hand, ratio=ours / hand, target=">= 0.95", passed=ours / hand >= 0.95)  # fmt: skip
        by_hand = imagefolder_epoch(tree, len(targets))
        emit("epoch, workbench defaults vs ImageFolder + DataLoader (fp32)", ours, "images/s",
             baseline=by_hand, ratio=ours / by_hand, target=">= 2", passed=ours / by_hand >= 2)  # fmt: skip
        inference(pixels, tmp)
        int8_export(tmp, args.quick)
        for channels_last in (False, True):
            compute_efficiency(2 if args.quick else 5, channels_last)
    print(json.dumps({"summary": "done"}))


if __name__ == "__main__":
    main()
