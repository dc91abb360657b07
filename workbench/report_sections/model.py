"""Sections of the model report: headline metrics, training curves, confusion matrix, per-class
and per-attribute tables, the misclassified images, the model's lineage and its usage."""

from __future__ import annotations

from typing import Any

from IPython.display import HTML
from matplotlib.dates import date2num
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.errors import NotFoundError
from workbench.ml.metrics import confusion_figure
from workbench.registry import get_model, newest_model_ids, training_datasets
from workbench.report_sections.display import (
    Column,
    Tile,
    facts,
    figure_html,
    gallery,
    number,
    percent,
    section,
    table,
    text,
    title,
)
from workbench.report_sections.display import verdict as verdict_paragraph
from workbench.usage import CHANNELS, LOW_CONFIDENCE, Usage, by_user_and_channel, per_day, usage_of
from workbench.views import image_hashes
from workbench.views.spec import describe_filter


def resolve(catalog: Catalog, model_id: int | None) -> Model:
    """The model to report on: ``model_id``, or the newest model when None."""
    if model_id is not None:
        return get_model(catalog, int(model_id))
    newest = newest_model_ids(catalog, 1)
    if not newest:
        raise NotFoundError(f"user {catalog.user!r} has no models yet: train one (`workbench train DATASET`)")
    return get_model(catalog, newest[0])


SMALL_TEST_SET = 100  # fewer test images than this: one mistake moves accuracy by over a point


def heading(model: Model) -> HTML:
    dataset = model.view.get("dataset", "?")
    return title(f"Model report: {model.name}", f"model {model.id}, trained on {dataset}")


def verdict(model: Model) -> HTML:
    """How good it is, where it goes wrong, and how far to trust the numbers, in a few sentences."""
    m = model.metrics or {}
    if "accuracy" not in m:
        return verdict_paragraph(["This model has no test results yet: it was not evaluated."])
    n = m.get("n", 0)
    said = [f"{percent(m['accuracy'])} accurate on {n:,} test images."]
    if confused := most_confused(m):
        true, predicted, count = confused
        said.append(f"It most often takes {true} for {predicted} ({count:,} times).")
    weakest = min((m.get("per_class") or {}).items(), key=lambda item: item[1].get("recall", 1), default=None)
    if weakest and weakest[1].get("recall", 1) < 1:
        said.append(
            f"Weakest class: {weakest[0]} ({percent(weakest[1]['recall'])} of its images recognised)."
        )
    if m.get("leakage"):
        said.append(f"{m['leakage']:,} images are in both training and test: the real accuracy may be lower.")
    if n < SMALL_TEST_SET:
        said.append(f"Only {n:,} test images: treat these numbers with care.")
    return verdict_paragraph(said)


def most_confused(metrics: dict[str, Any]) -> tuple[str, str, int] | None:
    """The (true, predicted, count) mistake made most often, or None without mistakes."""
    matrix, classes = metrics.get("confusion") or [], metrics.get("classes") or []
    mistakes = [
        (count, classes[i], classes[j])
        for i, row in enumerate(matrix)
        for j, count in enumerate(row)
        if i != j and count
    ]
    if not mistakes:
        return None
    count, true, predicted = max(mistakes)
    return true, predicted, count


def headline(model: Model) -> HTML:
    m = model.metrics or {}
    top = next((k for k in m if k.startswith("top") and k.endswith("_accuracy")), None)
    values = {
        "test accuracy": percent(m.get("accuracy")),
        "balanced score (F1, every class counted equally)": percent(m.get("macro_f1")),
        "test images": number(m.get("n")),
        "training time": minutes(m.get("train_seconds")),
        "architecture": f"{model.arch}, {model.image_size} px images, {len(model.classes)} classes",
        "published (others can use it)": "yes" if model.published else "no",
        "created": model.created_at.strftime("%Y-%m-%d %H:%M UTC") if model.created_at else "—",
    }
    if top:
        values[f"right answer among its top {top.removeprefix('top').removesuffix('_accuracy')}"] = percent(
            m[top]
        )
    if "int8" in m:
        values["smaller (int8) export's accuracy"] = (
            f"{percent(m['int8']['accuracy'])} ({m['int8']['accuracy_change']:+.1%})"
        )
    return facts({k: v for k, v in values.items() if v != "—"})


def minutes(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    return f"{seconds:.0f} seconds" if seconds < 120 else f"{seconds / 60:.0f} minutes"


def curves(model: Model) -> HTML | None:
    """Loss and validation accuracy per epoch, as recorded during training."""
    points = (model.metrics or {}).get("epochs") or []
    if len(points) < 2:  # one point is no curve
        return None
    epochs = [p["epoch"] for p in points]
    figure = Figure(figsize=(10, 3.4), layout="constrained")
    loss_ax, acc_ax = figure.subplots(1, 2)
    for key, label in (("train_loss", "on training images"), ("val_loss", "on validation images")):
        if any(key in p for p in points):
            loss_ax.plot(epochs, [p.get(key) for p in points], marker="o", label=label)
    loss_ax.set(title="error (loss), lower is better", xlabel="epoch")
    loss_ax.legend()
    acc_ax.plot(epochs, [p.get("val_acc") for p in points], marker="o", color="#55A868")
    acc_ax.set(title="validation accuracy", xlabel="epoch", ylim=(0, 1.02))
    for ax in (loss_ax, acc_ax):
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    return section("Training curves", figure_html(figure, "training curves"),
                   "How the model improved, pass (epoch) by pass over the training images.")  # fmt: skip


def confusion(model: Model) -> HTML | None:
    metrics = model.metrics or {}
    if "confusion" not in metrics:
        return None
    return section("What it confuses", figure_html(confusion_figure(metrics), "confusion matrix"),
                   "Rows are the true labels, columns the model's answers, on the test images: "
                   "everything off the diagonal is a mistake.")  # fmt: skip


def per_class(model: Model) -> HTML | None:
    classes = (model.metrics or {}).get("per_class") or {}
    if not classes:
        return None
    rows = [{"class": name, **values} for name, values in classes.items()]
    columns: list[Column] = [
        ("class", "class", text),
        ("recall", "of its images, recognised", percent),
        ("precision", "of the model's answers, right", percent),
        ("support", "test images", number),
    ]
    return section("Class by class", table(sorted(rows, key=lambda r: r.get("recall", 1)), columns),
                   "Weakest first.")  # fmt: skip


def by_attribute(model: Model) -> HTML | None:
    """Test accuracy per value of each attribute: where the model is weaker."""
    attributes = (model.metrics or {}).get("by_attribute") or {}
    if not attributes:
        return None
    rows = [
        {"attribute": name, "value": value, "accuracy": cell["accuracy"], "n": cell["n"]}
        for name, values in sorted(attributes.items())
        for value, cell in sorted(values.items(), key=lambda item: item[1]["accuracy"])
    ]
    columns: list[Column] = [
        ("attribute", "attribute", text),
        ("value", "value", text),
        ("accuracy", "accuracy", percent),
        ("n", "test images", number),
    ]
    return section("By attribute", table(rows, columns),
                   "Test accuracy for each value of each attribute, weakest first.")  # fmt: skip


def misclassified(catalog: Catalog, model: Model, limit: int = 32) -> HTML | None:
    """The test images the model got wrong, most confident mistakes first."""
    wrong = ((model.metrics or {}).get("misclassified") or [])[:limit]
    if not wrong:
        return None
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
    intro = "true → the model's answer, with its confidence; most confident mistakes first."
    return section("Misclassified test images", gallery(catalog.store, tiles), intro)


def lineage(catalog: Catalog, model: Model) -> HTML | None:
    """What the model was trained on: the view, the datasets its images came from (with the
    augmentation recipe of derived ones), the frozen image list, leakage, and the export check."""
    metrics = model.metrics or {}
    export = metrics.get("export") or {}
    sources = training_datasets(catalog, model)
    values: dict[str, Any] = {
        "data": _described_view(model.view),
        "training images": f"{len(model.train_image_ids):,} (fingerprint {model.train_ids_sha256[:12]})",
        "images per split": ", ".join(f"{k} {v:,}" for k, v in (metrics.get("split_sizes") or {}).items())
        or "—",
        "images in both training and validation/test": number(metrics.get("leakage")),
        "images that could not be read": number(len(metrics.get("skipped") or [])),
        "exported files (ONNX)": model.export_dir or "—",
        "export checked against the trained model": (
            f"largest difference {export['max_abs_logit_diff']:.1e} (ONNX opset {export.get('opset')})"
            if export
            else "—"
        ),
    }
    for source in sources:
        recipe = source["params"].get("recipe")
        values[f"from dataset {source['name']}"] = (
            f"{source['images']:,} images, {source['kind']}"
            + (f" of {source['parent']}" if source["parent"] else "")
            + (f"; recipe {recipe}" if recipe else "")
        )
    return section("What it was trained on", facts(values))


def _described_view(view: dict[str, Any]) -> str:
    rules = describe_filter(view.get("filter") or {})
    return f"{view.get('dataset')}" + (f", only images with {rules}" if rules else ", all images")


def usage(catalog: Catalog, model: Model) -> HTML | None:
    """Predictions served over time, by person and channel, and how often the model was unsure;
    everyone's use when the model is the reader's, only their own otherwise."""
    rows = usage_of(catalog, model.id)
    if not rows:
        return None
    totals = by_user_and_channel(rows)
    served = sum(r["predictions"] for r in totals)
    unsure = sum(r["low_confidence"] for r in totals)
    overview = facts({
        "predictions served": number(served),
        f"low-confidence answers (top probability under {LOW_CONFIDENCE:.0%})": f"{percent(unsure / served)} "
        f"({unsure:,})",
        "people": number(len({r["user"] for r in totals})),
        "days": f"{rows[0].day} to {rows[-1].day}",
    })  # fmt: skip
    columns: list[Column] = [
        ("user", "person", text),
        ("channel", "channel", text),
        ("predictions", "predictions", number),
        ("low_share", "low-confidence", percent),
    ]
    figure = figure_html(_usage_figure(rows), "predictions per day")
    body = overview.data + figure + table(totals, columns).data
    return section("Usage", body, "Every prediction served: the dashboard, batch jobs and the REST API.")


def _usage_figure(rows: list[Usage]) -> Figure:
    """Predictions per day, a bar per day stacked by channel."""
    days = per_day(rows)
    figure = Figure(figsize=(10, 3), layout="constrained")
    ax = figure.subplots()
    x, bottom = date2num(list(days)), [0] * len(days)
    for channel in CHANNELS:
        counts = [by_channel[channel] for by_channel in days.values()]
        if any(counts):
            ax.bar(x, counts, bottom=bottom, label=channel)
            bottom = [b + c for b, c in zip(bottom, counts, strict=True)]
    ax.xaxis_date()
    ax.set(title="predictions per day (UTC)")
    ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend()
    figure.autofmt_xdate()
    return figure
