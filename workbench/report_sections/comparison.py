"""Sections of the comparison report: models side by side."""

from __future__ import annotations

from IPython.display import HTML
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.errors import NotFoundError
from workbench.registry import compare_models, get_model, newest_model_ids
from workbench.report_sections.display import (
    Column,
    figure_html,
    number,
    percent,
    section,
    table,
    text,
    title,
)
from workbench.report_sections.display import verdict as verdict_paragraph

NEWEST = 5  # models compared when none are named


def resolve(catalog: Catalog, model_ids: list[int] | None) -> list[Model]:
    """The models to compare: ``model_ids`` in that order, or the newest few when None."""
    if model_ids is None:
        model_ids = newest_model_ids(catalog, NEWEST)
    if not model_ids:
        raise NotFoundError(f"user {catalog.user!r} has no models to compare: train some first")
    return [get_model(catalog, int(model_id)) for model_id in model_ids]


def heading(models: list[Model]) -> HTML:
    names = ", ".join(f"{m.name} ({m.id})" for m in models[:5]) + (" …" if len(models) > 5 else "")
    return title(f"Model comparison: {names}", f"{len(models)} models side by side")


def verdict(catalog: Catalog, models: list[Model]) -> HTML:
    """Which model is best on its test images, by how much, and whether that is a fair contest."""
    scored = [m for m in models if "accuracy" in (m.metrics or {})]
    if not scored:
        return verdict_paragraph(["None of these models has test results yet."])
    best = max(scored, key=lambda m: m.metrics["accuracy"])
    said = [f"Best: {best.name} (model {best.id}), {percent(best.metrics['accuracy'])} accurate."]
    others = [f"{m.name} ({m.id}) {percent(m.metrics['accuracy'])}" for m in scored if m is not best]
    if others:
        said.append("The others: " + ", ".join(others) + ".")
    rows = compare_models(catalog, [m.id for m in models])
    if len(rows) > 1:
        same = all(row["same_training_images"] for row in rows)
        fair = "They were trained on the very same images: a fair comparison."
        unfair = "They were trained on different images: part of the difference may be the data."
        said.append(fair if same else unfair)
    return verdict_paragraph(said)


def summary(catalog: Catalog, models: list[Model]) -> HTML:
    rows = []
    for row in compare_models(catalog, [m.id for m in models]):
        m = row["metrics"]
        rows.append(
            {
                **row,
                "accuracy": m.get("accuracy"),
                "macro_f1": m.get("macro_f1"),
                "train_seconds": m.get("train_seconds"),
                "same": "yes" if row["same_training_images"] else "no",
                "published": "yes" if row["published"] else "no",
            }
        )
    return table(
        rows,
        [
            ("id", "id", text),
            ("name", "name", text),
            ("arch", "architecture", text),
            ("image_size", "px", text),
            ("train_images", "training images", number),
            ("accuracy", "test accuracy", percent),
            ("macro_f1", "balanced score (F1)", percent),
            ("train_seconds", "training seconds", seconds),
            ("same", "same images as the first", text),
            ("published", "published", text),
        ],
    )


def figure(models: list[Model]) -> HTML | None:
    """Test accuracy and macro F1 per model, and their validation accuracy per epoch."""
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    bars, lines = fig.subplots(1, 2)
    labels = [f"{m.id} {m.name}"[:24] for m in models]
    positions = range(len(models))
    for offset, key, name in ((-0.2, "accuracy", "test accuracy"), (0.2, "macro_f1", "balanced score (F1)")):
        values = [(m.metrics or {}).get(key, 0.0) for m in models]
        bars.bar([p + offset for p in positions], values, width=0.4, label=name)
    bars.set_xticks(list(positions), labels, rotation=20, ha="right")
    bars.set(ylim=(0, 1.02), title="on each model's test images")
    bars.legend()
    for model, label in zip(models, labels, strict=True):
        points = (model.metrics or {}).get("epochs") or []
        lines.plot([p["epoch"] for p in points], [p.get("val_acc") for p in points], marker="o", label=label)
    lines.set(title="validation accuracy", xlabel="epoch", ylim=(0, 1.02))
    lines.xaxis.set_major_locator(MaxNLocator(integer=True))
    lines.legend()
    return section(
        "Accuracy and training", figure_html(fig, "test accuracy and validation accuracy per model")
    )


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def per_class_f1(models: list[Model]) -> HTML | None:
    """F1 per class (rows) and model (columns): where one model beats another."""
    classes = sorted({c for m in models for c in ((m.metrics or {}).get("per_class") or {})})
    if not classes:
        return None
    rows = [
        {
            "class": c,
            **{str(m.id): ((m.metrics or {}).get("per_class") or {}).get(c, {}).get("f1") for m in models},
        }
        for c in classes
    ]
    columns: list[Column] = [("class", "class", text)]
    columns += [(str(m.id), f"model {m.id} F1", percent) for m in models]
    intro = "F1 per class: one score for finding a class's images and being right when naming it."
    return section("Class by class", table(rows, columns), intro)
