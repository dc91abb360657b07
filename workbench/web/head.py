"""A head trained in the web app, brought back: ``import_head(catalog, model_id, head)`` makes a
new model version whose ONNX is the parent's backbone with the new final layer.

``head.json`` (written by the app's "export for the workbench") holds the labels, the layer's
weight (classes x D) and bias, which of the parent's ONNX files the embeddings came from, and
the hash of the web model they were computed with. The new model's export is the layout every
model has (``model.onnx``, ``labels.json``, ``preprocess.json``), so it predicts, evaluates and
exports (to the web too) like any other; its metrics name the parent.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from workbench import registry
from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.errors import WorkbenchError
from workbench.ml import files
from workbench.ml.quantize import INT8_FILE
from workbench.web import graph

FORMAT = "workbench-head/1"


def read_head(head: Path | dict[str, Any]) -> dict[str, Any]:
    """``head.json`` (a path or its parsed content), checked: its shape and its labels."""
    data = json.loads(Path(head).read_text()) if isinstance(head, str | Path) else dict(head)
    if data.get("format") != FORMAT:
        raise WorkbenchError(
            f"not a head exported by the web app (format {data.get('format')!r}, not {FORMAT!r})"
        )
    labels = data.get("labels")
    if not isinstance(labels, list) or not labels or not all(isinstance(x, str) and x for x in labels):
        raise WorkbenchError("the head's labels must be a list of names")
    if len(set(labels)) != len(labels):
        raise WorkbenchError(
            f"the head names a label twice: {sorted({x for x in labels if labels.count(x) > 1})}"
        )
    if data.get("backbone", "model.onnx") not in ("model.onnx", INT8_FILE):
        raise WorkbenchError(f"unknown backbone file {data.get('backbone')!r}")
    try:
        data["weight"] = np.asarray(data["weight"], np.float32)
        data["bias"] = np.asarray(data["bias"], np.float32)
    except (KeyError, ValueError, TypeError) as exc:
        raise WorkbenchError(f"the head's weight and bias must be numbers: {exc}") from exc
    if len(data["weight"]) != len(labels) or not np.isfinite(data["weight"]).all():
        raise WorkbenchError(
            f"the head has {len(data['weight'])} weight rows for {len(labels)} labels (or non-finite weights)"
        )
    return data


def import_head(
    catalog: Catalog, model_id: int, head: Path | dict[str, Any], *, name: str | None = None
) -> int:
    """Register parent ``model_id``'s backbone with the head as a new model; returns its id."""
    data = read_head(head)
    parent = registry.get_model(catalog, model_id)
    source_dir = registry.export_folder(catalog, parent)
    backbone_file = data.get("backbone", "model.onnx")
    source = onnx.load(str(source_dir / backbone_file))
    if data.get("parent_sha256"):
        web_sha = hashlib.sha256(graph.with_embedding_output(source).SerializeToString()).hexdigest()
        if web_sha != data["parent_sha256"]:
            raise WorkbenchError(
                f"this head was trained on another model than model {model_id}'s {backbone_file}: "
                "export the web app of the model it came from again, or import it onto that model"
            )
    personalised = graph.with_head(source, data["weight"], data["bias"])
    folder = catalog.settings.data_dir / "models" / f"head-{uuid.uuid4().hex}" / "export"
    folder.mkdir(parents=True)
    files.write_bytes(folder / "model.onnx", personalised.SerializeToString())
    files.write_text(folder / "labels.json", json.dumps(data["labels"]))
    files.write_bytes(folder / "preprocess.json", (source_dir / "preprocess.json").read_bytes())
    catalog.store.publish_folder(folder)
    new_labels = [label for label in data["labels"] if label not in parent.classes]
    metrics = {
        "parent_model_id": parent.id,
        "personalised": {
            "backbone": backbone_file, "new_labels": new_labels, "examples": data.get("examples"),
        },
    }  # fmt: skip
    with catalog.transaction() as session:
        row = Model(
            owner=catalog.user, name=name or f"{parent.name} personalised", arch=parent.arch,
            classes=list(data["labels"]), image_size=parent.image_size, view=dict(parent.view),
            train_image_ids=list(parent.train_image_ids), train_ids_sha256=parent.train_ids_sha256,
            metrics=metrics, export_dir=catalog.store.reference(folder),
        )  # fmt: skip
        session.add(row)
        session.flush()
        return row.id
