"""Sections of the model report: headline metrics, training curves, confusion matrix, per-class
and per-attribute tables, the misclassified images, and the model's lineage."""

from __future__ import annotations

from typing import Any

from IPython.display import HTML, Image
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.errors import NotFoundError
from workbench.ml.metrics import confusion_figure
from workbench.registry import get_model, newest_model_ids, training_datasets
from workbench.report_sections.display import (
    Tile,
    facts,
    gallery,
    note,
    number,
    percent,
    png,
    table,
    text,
)
from workbench.views import image_hashes


def resolve(catalog: Catalog, model_id: int | None) -> Model:
    """The model to report on: ``model_id``, or the newest model when None."""
    if model_id is not None:
        return get_model(catalog, int(model_id))
    newest = newest_model_ids(catalog, 1)
    if not newest:
        raise NotFoundError(f"user {catalog.user!r} has no models yet: train one (`workbench train DATASET`)")
    return get_model(catalog, newest[0])


def headline(model: Model) -> HTML:
    m = model.metrics or {}
    top = next((k for k in m if k.startswith("top") and k.endswith("_accuracy")), None)
    values = {
        "model": f"{model.id} ({model.name})",
        "architecture": f"{model.arch}, {model.image_size} px, {len(model.classes)} classes",
        "test accuracy": percent(m.get("accuracy")),
        (top or "top-k").replace("_", " "): percent(m.get(top)) if top else "—",
        "macro F1": number(m.get("macro_f1")),
        "test images": number(m.get("n")),
        "training time": f"{m['train_seconds']:.0f} s" if "train_seconds" in m else "—",
        "published": "yes" if model.published else "no",
        "created": model.created_at.strftime("%Y-%m-%d %H:%M UTC") if model.created_at else "—",
    }
    if "int8" in m:
        values["int8 export accuracy"] = (
            f"{percent(m['int8']['accuracy'])} ({m['int8']['accuracy_change']:+.1%})"
        )
    return facts(values)


def curves(model: Model) -> Image | HTML:
    """Loss and validation accuracy per epoch, as recorded during training."""
    points = (model.metrics or {}).get("epochs") or []
    if not points:
        return note("no training curve recorded for this model")
    epochs = [p["epoch"] for p in points]
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    for key in ("train_loss", "val_loss"):
        if any(key in p for p in points):
            loss_ax.plot(epochs, [p.get(key) for p in points], marker="o", label=key.replace("_", " "))
    loss_ax.set(title="loss", xlabel="epoch")
    loss_ax.legend()
    acc_ax.plot(epochs, [p.get("val_acc") for p in points], marker="o", color="#55A868")
    acc_ax.set(title="validation accuracy", xlabel="epoch", ylim=(0, 1.02))
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return png(figure)


def confusion(model: Model) -> Image | HTML:
    metrics = model.metrics or {}
    if "confusion" not in metrics:
        return note("no confusion matrix recorded for this model")
    return png(confusion_figure(metrics))


def per_class(model: Model) -> HTML:
    classes = (model.metrics or {}).get("per_class") or {}
    rows = [{"class": name, **values} for name, values in classes.items()]
    return table(
        rows,
        [
            ("class", "class", text),
            ("precision", "precision", number),
            ("recall", "recall", number),
            ("f1", "F1", number),
            ("support", "test images", number),
        ],
    )


def by_attribute(model: Model) -> HTML:
    """Test accuracy per value of each attribute: where the model is weaker."""
    attributes = (model.metrics or {}).get("by_attribute") or {}
    if not attributes:
        return note("the test images have no attributes to break accuracy down by")
    rows = [
        {"attribute": name, "value": value, "accuracy": cell["accuracy"], "n": cell["n"]}
        for name, values in sorted(attributes.items())
        for value, cell in sorted(values.items(), key=lambda item: item[1]["accuracy"])
    ]
    return table(
        rows,
        [
            ("attribute", "attribute", text),
            ("value", "value", text),
            ("accuracy", "accuracy", percent),
            ("n", "test images", number),
        ],
    )


def misclassified(catalog: Catalog, model: Model, limit: int = 32) -> HTML:
    """The test images the model got wrong, most confident mistakes first."""
    wrong = ((model.metrics or {}).get("misclassified") or [])[:limit]
    if not wrong:
        return note("no misclassified test images")
    found = image_hashes(catalog, [w["image_id"] for w in wrong])
    tiles = [
        Tile(
            found[w["image_id"]],
            f"{w['true']} → {w['predicted']} ({w['score']:.0%})",
            f"image {w['image_id']}: true {w['true']}, predicted {w['predicted']}",
        )
        for w in wrong
        if w["image_id"] in found
    ]
    return gallery(catalog.store, tiles)


def lineage(catalog: Catalog, model: Model) -> HTML:
    """What the model was trained on: the view, the datasets its images came from (with the
    augmentation recipe of derived ones), the frozen image list, leakage, and the export check."""
    metrics = model.metrics or {}
    export = metrics.get("export") or {}
    sources = training_datasets(catalog, model)
    values: dict[str, Any] = {
        "view": f"{model.view.get('dataset')} {model.view.get('filter') or {}}",
        "training images": f"{len(model.train_image_ids):,} (id list sha256 {model.train_ids_sha256[:16]}…)",
        "split sizes": ", ".join(f"{k} {v:,}" for k, v in (metrics.get("split_sizes") or {}).items()) or "—",
        "images in both train and validation/test": number(metrics.get("leakage")),
        "images that failed to decode": number(len(metrics.get("skipped") or [])),
        "export": model.export_dir or "—",
        "export parity (max |logit difference| torch vs ONNX)": (
            f"{export['max_abs_logit_diff']:.2e} (opset {export.get('opset')})" if export else "—"
        ),
    }
    for source in sources:
        recipe = source["params"].get("recipe")
        values[f"from dataset {source['name']}"] = (
            f"{source['images']:,} images, {source['kind']}"
            + (f" of {source['parent']}" if source["parent"] else "")
            + (f"; recipe {recipe}" if recipe else "")
        )
    return facts(values)
