"""A model as an offline web app: ``export_web(catalog, model_id, folder)``, ``zip_web(folder, archive)``.

The folder is static and self-contained: the app (``index.html``, its modules, a service worker,
a web app manifest, icons), onnxruntime-web's WebAssembly build, the model with its embedding
as a second output (``workbench.web.graph``), ``labels.json``, ``preprocess.json``, the final
layer's weights and a few training images' embeddings per class (``anchors.f32``: what the old
classes keep when a person teaches a new one), and ``config.json`` tying them together. Nothing
is fetched from anywhere else. The built assets ship inside this package (``make install`` builds
them from ``web/`` with npm), so exporting needs no Node. Each file is written whole
(``workbench.ml.files``); ``sw.js``, which names every file and the model's hash, comes last.
"""

from __future__ import annotations

import hashlib
import json
import logging
import random
import shutil
import zipfile
from collections import defaultdict
from pathlib import Path

import numpy as np
import onnx
from PIL import Image as PILImage
from sqlalchemy import select

from workbench import registry
from workbench.catalog import Catalog, Image
from workbench.errors import NotFoundError, WorkbenchError
from workbench.ml import files
from workbench.ml.quantize import INT8_FILE
from workbench.pool import batched
from workbench.web import graph

log = logging.getLogger(__name__)
ASSETS = Path(__file__).parent / "assets"
ANCHORS_PER_CLASS = 16
HOW_TO_SERVE = """\
This folder is a web app: {name} (workbench model {model_id}) classifying photos in the browser.

A browser will not run it from file://. Serve the folder, then open the address once (it is then
cached, and works offline, installable as an app):

    python -m http.server 8000 --bind 127.0.0.1      # in this folder; open http://127.0.0.1:8000/

Threads: exported with threads={threads}; they need the page served with the headers
Cross-Origin-Opener-Policy: same-origin and Cross-Origin-Embedder-Policy: require-corp
(http.server sends neither: the app then runs one thread, the default).
"""


def export_web(
    catalog: Catalog, model_id: int, out_dir: Path, *, int8: bool = False, threads: bool = False
) -> Path:
    """Write model ``model_id`` as a web app into ``out_dir`` (made if need be); returns it.
    ``int8``: ship the static int8 export (the model must have one); ``threads``: use several
    threads where the server sends the cross-origin isolation headers."""
    if not (ASSETS / "index.html").exists():
        raise WorkbenchError(
            f"the web app's files are not built ({ASSETS} is empty): run `make install`, or "
            "`npm ci --prefix web && node web/build.mjs` in the source tree"
        )
    model = registry.get_model(catalog, model_id)
    source_dir = registry.export_folder(catalog, model)
    source_file = INT8_FILE if int8 else "model.onnx"
    if not (source_dir / source_file).exists():
        raise NotFoundError(
            f"model {model_id} has no {source_file}: train it with int8=True (`workbench train --int8`)"
            if int8 else f"model {model_id}'s export has no model.onnx"
        )  # fmt: skip
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    files.remove_temporaries(out_dir)
    for name in sorted(p.name for p in ASSETS.iterdir() if p.name != "sw.js"):
        with files.atomic_path(out_dir / name) as partial:
            shutil.copyfile(ASSETS / name, partial)
    for name in ("labels.json", "preprocess.json"):
        files.write_bytes(out_dir / name, (source_dir / name).read_bytes())
    source = onnx.load(str(source_dir / source_file))
    model_bytes = graph.with_embedding_output(source).SerializeToString()
    files.write_bytes(out_dir / "model.onnx", model_bytes)
    model_sha = hashlib.sha256(model_bytes).hexdigest()
    weight, bias = graph.head_weights(source)
    anchor_labels = _write_anchors(catalog, model.train_image_ids, out_dir)
    config = {
        "name": model.name, "model_id": model.id, "model_file": "model.onnx", "model_sha256": model_sha,
        "source_file": source_file, "int8": int8, "threads": threads, "input": source.graph.input[0].name,
        "embedding_size": int(weight.shape[1]), "head": {"weight": weight.tolist(), "bias": bias.tolist()},
        "anchors": {"file": "anchors.f32", "labels": anchor_labels},
    }  # fmt: skip
    files.write_text(out_dir / "config.json", json.dumps(config))
    files.write_text(
        out_dir / "README.txt", HOW_TO_SERVE.format(name=model.name, model_id=model.id, threads=threads)
    )
    _write_service_worker(out_dir, model_sha)
    log.info("model %d exported as a web app in %s", model_id, out_dir)
    return out_dir


def _write_anchors(catalog: Catalog, train_ids: list[int], out_dir: Path) -> list[str]:
    """Embeddings of up to ``ANCHORS_PER_CLASS`` training images per class (a seeded sample),
    made with the app's own model file; returns their labels in order."""
    from workbench.ml.predict import OnnxPredictor

    chosen: dict[str, list[str]] = defaultdict(list)
    ids = list(train_ids)
    random.Random(0).shuffle(ids)
    with catalog.sessions() as session:
        for chunk in batched(ids, 2_000):
            rows = session.execute(select(Image.label, Image.sha256).where(Image.id.in_(chunk))).all()
            for label, sha256 in sorted(rows, key=lambda r: r.sha256):
                if label is not None and len(chosen[label]) < ANCHORS_PER_CLASS:
                    chosen[label].append(sha256)
            if len(chosen) and all(len(v) >= ANCHORS_PER_CLASS for v in chosen.values()):
                break
    labels = [label for label in sorted(chosen) for _ in chosen[label]]
    predictor = OnnxPredictor(out_dir)
    embeddings = []
    for label in sorted(chosen):
        batch = predictor.preprocess([_rgb(catalog.store.blob_path(sha)) for sha in chosen[label]])
        embeddings.append(predictor.session.run([graph.EMBEDDING], {predictor.input: batch})[0])
    data = np.concatenate(embeddings).astype("<f4") if embeddings else np.zeros(0, "<f4")
    files.write_bytes(out_dir / "anchors.f32", data.tobytes())
    return labels


def _rgb(path: Path) -> PILImage.Image:
    with PILImage.open(path) as image:
        return image.convert("RGB")


def _write_service_worker(out_dir: Path, model_sha: str) -> None:
    """``sw.js`` with the app's files and a version from the model's hash and theirs: a new
    export is a new cache, and browsers drop the old one."""
    names = sorted(p.name for p in out_dir.iterdir() if p.is_file() and p.name != "sw.js")
    digest = hashlib.sha256()
    for name in names:
        digest.update(name.encode() + hashlib.sha256((out_dir / name).read_bytes()).digest())
    version = f"{model_sha[:16]}-{digest.hexdigest()[:8]}"
    text = (ASSETS / "sw.js").read_text()
    text = text.replace("__VERSION__", version).replace("__FILES__", json.dumps(names))
    files.write_text(out_dir / "sw.js", text)


def zip_web(folder: Path, archive: Path) -> Path:
    """The web app ``folder`` as one zip (for a download), written whole; returns ``archive``."""
    with (
        files.atomic_path(Path(archive)) as partial,
        zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED) as zf,
    ):
        for path in sorted(Path(folder).iterdir()):
            if path.is_file() and not files.is_temporary(path):
                zf.write(path, path.name)
    return Path(archive)
