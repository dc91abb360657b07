"""Builders of test inputs, good and hostile, named after what they are or what they break."""

from __future__ import annotations

import csv
import io
import struct
import zipfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def image_bytes(seed: int, size: tuple[int, int] = (24, 24), fmt: str = "PNG") -> bytes:
    """A small image whose pixels (and so whose sha256) depend on ``seed``."""
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).save(out, format=fmt)
    return out.getvalue()


def image_folder(root: Path, counts: dict[str, int], *, start: int = 0, fmt: str = "PNG") -> Path:
    """An ImageFolder ``root/<label>/<n>.<ext>`` with distinct images."""
    seed = start
    ext = {"PNG": "png", "JPEG": "jpg"}[fmt]
    for label, count in counts.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for n in range(count):
            (root / label / f"{n}.{ext}").write_bytes(image_bytes(seed, fmt=fmt))
            seed += 1
    return root


def zip_of(folder: Path, archive: Path, *, prefix: str = "") -> Path:
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, prefix + path.relative_to(folder).as_posix())
    return archive


def traversal_zip(archive: Path, hostile_name: str) -> Path:
    """Good images plus one member whose name escapes the target (``../x`` or ``/etc/x``)."""
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("cats/ok.png", image_bytes(1))
        zf.writestr(hostile_name, image_bytes(2))
    return archive


def bomb_zip(archive: Path, megabytes: int = 64) -> Path:
    """A member of zeros compressing about 1000:1: a classic zip bomb, small on disk."""
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cats/ok.png", image_bytes(1))
        zf.writestr("cats/bomb.png", b"\0" * (megabytes * 1024 * 1024))
    return archive


def lying_size_zip(archive: Path) -> Path:
    """A member whose header declares 100 bytes but inflates to 8 MiB."""
    payload = b"\0" * (8 * 1024 * 1024)
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("cats/ok.png", image_bytes(1))
        zf.writestr("cats/liar.png", payload)
    data = bytearray(archive.read_bytes())
    # Patch the uncompressed size (little-endian uint32) in both the local and central headers.
    real = struct.pack("<I", len(payload))
    fake = struct.pack("<I", 100)
    start = 0
    while (at := data.find(real, start)) != -1:
        data[at : at + 4] = fake
        start = at + 4
    archive.write_bytes(bytes(data))
    return archive


def truncated_jpeg(path: Path, size: tuple[int, int] = (64, 64)) -> Path:
    data = image_bytes(7, size=size, fmt="JPEG")
    path.write_bytes(data[: len(data) // 2])
    return path


def damaged_png(path: Path) -> Path:
    """A whole PNG with one flipped byte in its pixel data (IDAT): its CRC no longer matches."""
    data = bytearray(image_bytes(8))
    at = data.find(b"IDAT") + 8
    data[at] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def pixel_bomb_png(path: Path, width: int = 20000, height: int = 20000) -> Path:
    """A tiny PNG whose header claims width x height pixels (400 M by default)."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    row = b"\0" + b"\0" * width
    body = zlib.compress(row * 16)  # far fewer rows than claimed: never decoded anyway
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body) + chunk(b"IEND", b"")
    )
    return path


def styles_csv(path: Path, rows: list[dict[str, object]], header: list[str] | None = None) -> Path:
    """A CSV in the fashion catalogue's styles.csv layout."""
    header = header or [
        "id",
        "gender",
        "masterCategory",
        "subCategory",
        "articleType",
        "baseColour",
        "season",
        "year",
        "usage",
        "productDisplayName",
    ]
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    return path


def fashion_catalogue(root: Path, n: int = 12) -> tuple[Path, Path]:
    """``images/<id>.jpg`` and ``styles.csv`` with realistic columns; articleType is the label."""
    images = root / "images"
    images.mkdir(parents=True)
    types = ["Tshirts", "Shirts", "Jeans"]
    colours = ["Blue", "Black", "White", "Red"]
    rows = []
    for i in range(n):
        item_id = 1000 + i
        (images / f"{item_id}.jpg").write_bytes(image_bytes(500 + i, size=(60 + i, 80), fmt="JPEG"))
        rows.append(
            {
                "id": item_id,
                "gender": "Men" if i % 2 else "Women",
                "masterCategory": "Apparel",
                "subCategory": "Topwear",
                "articleType": types[i % 3],
                "baseColour": colours[i % 4],
                "season": "Summer" if i % 3 else "Winter",
                "year": 2011 + i % 3,
                "usage": "Casual",
                "productDisplayName": f"Item {i}, with a comma",
            }
        )
    return images, styles_csv(root / "styles.csv", rows)


def digits_workbench(root: Path, jobs: Any) -> Any:
    """A Workbench on the embedded default under ``root`` with scikit-learn's digits ingested
    (labels from the CSV, a seeded 0.8/0.1/0.1 split): what the training and report tests share."""
    from workbench.api import Workbench
    from workbench.config import Settings
    from workbench.demo import write_digits

    bench = Workbench(Settings(data_dir=root / "data", user="tester", jobs=jobs))
    images, labels = write_digits(root / "source")
    bench.ingest(images, "digits", labels_csv=labels, label_column="digit", split="0.8,0.1,0.1", seed=0)
    return bench


# -- hostile input (issue 15): each builder is named after what it breaks -------------------------


def _write_repeated(handle: Any, piece: str, total_chars: int) -> None:
    """``piece`` repeated to ``total_chars`` characters, written a MiB at a time (memory-bounded)."""
    block = piece * max(1, (1024 * 1024) // len(piece))
    written = 0
    while written + len(block) <= total_chars:
        handle.write(block)
        written += len(block)
    handle.write((piece * (total_chars // len(piece) + 1))[: total_chars - written])


def csv_50mb_cell(path: Path, ids: list[int], label: str = "Shirts", chars: int = 50 * 1024 * 1024) -> Path:
    """``id,articleType,notes``: every id gets a short row, but the last id's notes cell is
    ``chars`` characters long (the csv module's own 128 KiB limit refused the whole file)."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,articleType,notes\n")
        for item_id in ids[:-1]:
            handle.write(f"{item_id},{label},short\n")
        handle.write(f"{ids[-1]},{label},")
        _write_repeated(handle, "x", chars)
        handle.write("\n")
    return path


def csv_50mb_header(path: Path, chars: int = 50 * 1024 * 1024) -> Path:
    """A header line of ``chars`` characters of distinct short column names (``,c0000001`` and
    on, about 5.8 million), then a row; written 100,000 names at a time."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,articleType")
        names = (chars - len("id,articleType")) // 9
        for start in range(0, names, 100_000):
            handle.write("".join(f",c{i:07d}" for i in range(start, min(start + 100_000, names))))
        handle.write("\n1000,Shirts\n")
    return path


def csv_million_columns(path: Path, columns: int = 1_000_000) -> Path:
    """A header of ``columns`` distinct columns, written as one line, and one short row."""
    with path.open("w", encoding="utf-8", newline="") as handle:
        handle.write("id,articleType,")
        handle.write(",".join(f"c{i}" for i in range(columns - 2)))
        handle.write("\n1000,Shirts\n")
    return path


def symlink_zip(archive: Path, members: dict[str, bytes], links: dict[str, str]) -> Path:
    """A zip of ``members`` plus symbolic links (``name -> target``), as `zip --symlinks` makes them."""
    with zipfile.ZipFile(archive, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
        for name, target in links.items():
            info = zipfile.ZipInfo(name)
            info.create_system = 3  # Unix: the mode lives in external_attr
            info.external_attr = (0o120777 << 16) | 0  # S_IFLNK
            zf.writestr(info, target)
    return archive


def onnx_export(folder: Path, classes: list[str], image_size: int = 8) -> Path:
    """A real, tiny ONNX export (global average pool, then a linear layer) in the layout training
    writes (``model.onnx``, ``labels.json``, ``preprocess.json``): a model to predict with, in a
    second, without training one."""
    import json

    import onnx
    from onnx import TensorProto, helper, numpy_helper

    folder.mkdir(parents=True, exist_ok=True)
    weights = np.arange(3 * len(classes), dtype=np.float32).reshape(3, len(classes)) / 10
    graph = helper.make_graph(
        [
            helper.make_node("GlobalAveragePool", ["image"], ["pooled"]),
            helper.make_node("Flatten", ["pooled"], ["flat"]),
            helper.make_node("MatMul", ["flat", "weights"], ["logits"]),
        ],
        "tiny",
        [helper.make_tensor_value_info("image", TensorProto.FLOAT, ["n", 3, image_size, image_size])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", len(classes)])],
        [numpy_helper.from_array(weights, "weights")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8  # what the installed ONNX Runtime reads
    onnx.save(model, str(folder / "model.onnx"))
    (folder / "labels.json").write_text(json.dumps(classes))
    preprocess = {"image_size": [image_size, image_size], "mean": [0.5] * 3, "std": [0.25] * 3}
    (folder / "preprocess.json").write_text(json.dumps(preprocess))
    return folder


def colour_digits(digits: list[tuple[Path, str]], folder: Path, n: int = 200, seed: int = 0) -> list[Path]:
    """``n`` three-channel photos made from digit scans: coloured ink on a coloured, noisy
    ground, at sizes from 20 to 160 px a side (wide and tall, so the resize shrinks and grows
    either way), half PNG and half JPEG (quality 90)."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    made = []
    for i in range(n):
        path, label = digits[int(rng.integers(len(digits)))]
        ink = np.asarray(Image.open(path).convert("L"), np.float32)[..., None] / 255
        ground, colour = rng.integers(0, 256, 3), rng.integers(0, 256, 3)
        rgb = Image.fromarray(((1 - ink) * ground + ink * colour).astype(np.uint8))
        width, height = (int(v) for v in rng.integers(20, 161, 2))
        noisy = np.asarray(rgb.resize((width, height), Image.Resampling.BICUBIC), np.float32)
        noisy += rng.normal(0, 8, noisy.shape)
        photo = Image.fromarray(noisy.clip(0, 255).astype(np.uint8))
        fmt = "PNG" if i % 2 == 0 else "JPEG"
        target = folder / f"{i:03d}-{label}.{'png' if fmt == 'PNG' else 'jpg'}"
        photo.save(target, fmt, **({"quality": 90} if fmt == "JPEG" else {}))
        made.append(target)
    return made
