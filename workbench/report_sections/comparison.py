"""Sections of the comparison report: models side by side."""

from __future__ import annotations

from IPython.display import HTML
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.errors import NotFoundError
from workbench.registry import compare_models, get_model, newest_model_ids
from workbench.report_sections.display import note, number, percent, png, table, text

NEWEST = 5  # models compared when none are named


def resolve(catalog: Catalog, model_ids: list[int] | None) -> list[Model]:
    """The models to compare: ``model_ids`` in that order, or the newest few when None."""
    if model_ids is None:
        model_ids = newest_model_ids(catalog, NEWEST)
    if not model_ids:
        raise NotFoundError(f"user {catalog.user!r} has no models to compare: train some first")
    return [get_model(catalog, int(model_id)) for model_id in model_ids]


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
            ("macro_f1", "macro F1", number),
            ("train_seconds", "training s", seconds),
            ("same", "same images as the first", text),
            ("published", "published", text),
        ],
    )


def figure(models: list[Model]) -> HTML:
    """Test accuracy and macro F1 per model, and their validation accuracy per epoch."""
    fig = Figure(figsize=(12, 3.6), layout="constrained")
    bars, lines = fig.subplots(1, 2)
    labels = [f"{m.id} {m.name}"[:24] for m in models]
    positions = range(len(models))
    for offset, key, title in ((-0.2, "accuracy", "test accuracy"), (0.2, "macro_f1", "macro F1")):
        values = [(m.metrics or {}).get(key, 0.0) for m in models]
        bars.bar([p + offset for p in positions], values, width=0.4, label=title)
    bars.set_xticks(list(positions), labels, rotation=20, ha="right")
    bars.set(ylim=(0, 1.02), title="on each model's test images")
    bars.legend()
    for model, label in zip(models, labels, strict=True):
        points = (model.metrics or {}).get("epochs") or []
        lines.plot([p["epoch"] for p in points], [p.get("val_acc") for p in points], marker="o", label=label)
    lines.set(title="validation accuracy", xlabel="epoch", ylim=(0, 1.02))
    lines.xaxis.set_major_locator(MaxNLocator(integer=True))
    lines.legend()
    return png(fig, "test accuracy and validation accuracy per model")


def seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:,.0f}"


def per_class_f1(models: list[Model]) -> HTML:
    """F1 per class (rows) and model (columns): where one model beats another."""
    classes = sorted({c for m in models for c in ((m.metrics or {}).get("per_class") or {})})
    if not classes:
        return note("no per-class metrics recorded")
    rows = [
        {
            "class": c,
            **{str(m.id): ((m.metrics or {}).get("per_class") or {}).get(c, {}).get("f1") for m in models},
        }
        for c in classes
    ]
    return table(rows, [("class", "class", text)] + [(str(m.id), f"model {m.id} F1", number) for m in models])
