"""Judge and share models: metrics, confusion matrix, misclassified images, accuracy per
attribute, usage, publish, compare, and download links for the ONNX export and the checkpoint."""

from __future__ import annotations

import html
import os
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench.ml.metrics import confusion_figure
from workbench.usage import by_user_and_channel, usage_of
from workbench.views import image_hashes
from workbench.widgets.common import (
    WIDE,
    Status,
    empty_state,
    figure_image,
    figure_png,
    guarded,
    help_tip,
    show_png,
    thumbnail_html,
)
from workbench.widgets.current import model_words, percent
from workbench.widgets.state import DashboardState

DOWNLOADS = ("model.onnx", "model.int8.onnx", "labels.json", "preprocess.json", "model.ckpt")


HEADERS = {
    "accuracy": "Accuracy", "macro_f1": "Average F1 score", "n": "Test images",
    "train_images": "Training images", "train_seconds": "Training time", "image_size": "Image size (px)",
    "precision": "Precision", "recall": "Recall", "f1": "F1 score", "support": "Test images",
    "class": "Class", "id": "Model", "name": "Name", "arch": "Architecture",
    "same_images": "Same training images", "predictions": "Predictions served",
    "low_share": "Low-confidence answers", "users": "People", "last_used": "Last used",
    "user": "Person", "channel": "Channel",
}  # fmt: skip


def header(key: str) -> str:
    """A column's name for people: 'macro_f1' is 'Average F1 score', 'top5_accuracy' 'Top-5 accuracy'."""
    if key.startswith("top") and key.endswith("_accuracy"):
        return f"Top-{key[3:].removesuffix('_accuracy')} accuracy"
    return HEADERS.get(key, key.replace("_", " ").capitalize())


def _cell(key: str, value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        if key in ("accuracy", "precision", "recall", "f1", "macro_f1") or key.endswith(
            ("_accuracy", "_acc")
        ):
            return percent(value)
        if key.endswith("_share"):
            return percent(value)
        if key.endswith("seconds"):
            return f"{value:,.0f} s"
        return f"{value:.3f}"
    return "" if value is None else str(value)


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(
        f"<th style='text-align:left;padding:2px 8px'>{html.escape(header(c))}</th>" for c in columns
    )
    cells = (
        "".join(f"<td style='padding:2px 8px'>{html.escape(_cell(c, r.get(c)))}</td>" for c in columns)
        for r in rows
    )
    body = "".join(f"<tr>{row}</tr>" for row in cells)
    return f"<table class='workbench-table'><tr>{head}</tr>{body}</table>"


def _card(name: str, figures: dict[str, Any]) -> str:
    """A model's headline figures as a card: big numbers, each with its name under it."""
    cells = "".join(
        f"<div class='workbench-kpi'><b>{html.escape(_cell(key, value))}</b>"
        f"<span>{html.escape(header(key))}</span></div>"
        for key, value in figures.items()
        if value is not None
    )
    return (
        f"<div class='workbench-card workbench-model-card'><div style='font-weight:600;margin-bottom:8px'>"
        f"{html.escape(name)}</div><div class='workbench-kpis'>{cells}</div></div>"
    )


class ModelsPanel(widgets.VBox):
    """``downloads`` is a folder the page's server publishes at ``downloads_url``: export files
    are hard-linked there (no copy) when a person asks for them."""

    def __init__(self, state: DashboardState, downloads: Path | None = None, downloads_url: str = "") -> None:
        self.state = state
        self.downloads, self.downloads_url = downloads, downloads_url.rstrip("/")
        self.choice = widgets.Dropdown(description="Model", layout=widgets.Layout(width="520px"))
        self.choice.add_class("workbench-model-choice")
        self.choice.observe(lambda _: self.show(), names="value")
        self.published = widgets.Checkbox(description="published", style=WIDE)
        self.published.add_class("workbench-published")
        published_help = help_tip(
            "published",
            "A model you mark as ready to use. Scheduled reports (such as a daily model report) "
            "cover every published model. Untick to withdraw it; nothing is deleted.",
        )
        self._showing = False
        self.published.observe(self._publish, names="value")
        self.details = widgets.HTML()
        self.confusion = figure_image(max_width="560px")
        self.confusion.add_class("workbench-confusion")
        self.misclassified = widgets.HTML()
        self.by_attribute = widgets.HTML()
        self.usage = widgets.HTML()
        self.usage.add_class("workbench-usage")
        self.links = widgets.HTML()
        self.download = widgets.Button(description="Download files", icon="download")
        self.web_app = widgets.Button(
            description="Web app", icon="mobile",
            tooltip="the model as an app for a phone or laptop browser: offline after the first load",
        )  # fmt: skip
        self.compare_with = widgets.SelectMultiple(description="Compare", rows=4)
        self.compare = widgets.Button(description="Compare", icon="columns")
        self.comparison = widgets.HTML()
        self.status = Status("models")
        self.download.on_click(guarded(self.status)(lambda _: self._links()))
        self.web_app.on_click(guarded(self.status)(lambda _: self._web_app()))
        self.compare.on_click(guarded(self.status)(lambda _: self._show_comparison()))
        state.observe(lambda _: self.refresh(), names="models_changed")
        super().__init__(
            [
                widgets.HBox([self.choice, self.published, published_help]),
                self.status,
                self.details,
                self.confusion,
                widgets.HTML("<b>Most confident mistakes</b>"),
                self.misclassified,
                self.by_attribute,
                self.usage,
                widgets.HBox([self.download, self.web_app]),
                self.links,
                widgets.HBox([self.compare_with, self.compare]),
                self.comparison,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        models = self.state.workbench.models()
        options = [(model_words(m), m["id"]) for m in reversed(models)]
        self.choice.options = options
        self.compare_with.options = options
        if options:
            self.choice.value = options[0][1]
        self.show()

    def show(self) -> None:
        self.links.value = ""
        if self.choice.value is None:
            self.details.value = empty_state("No models yet: train one in the Train tab.")
            show_png(self.confusion, b"")
            self.misclassified.value = self.by_attribute.value = self.usage.value = ""
            return
        row = self.state.workbench.model(self.choice.value)
        metrics = row.metrics
        self._showing = True  # the checkbox follows the model shown: not a person's publish
        try:
            self.published.value = row.published
        finally:
            self._showing = False
        self.published.disabled = row.owner != self.state.workbench.catalog.user  # shared: read-only
        top_k = next((k for k in metrics if k.startswith("top") and k.endswith("_accuracy")), "top5_accuracy")
        summary = {
            "accuracy": metrics.get("accuracy"), top_k: metrics.get(top_k),
            "macro_f1": metrics.get("macro_f1"), "n": metrics.get("n"),
            "train_images": len(row.train_image_ids), "train_seconds": metrics.get("train_seconds"),
            "image_size": row.image_size,
        }  # fmt: skip
        per_class = [{"class": c, **m} for c, m in metrics.get("per_class", {}).items()]
        self.details.value = _card(row.name, summary) + _table(
            per_class, ["class", "precision", "recall", "f1", "support"]
        )
        show_png(self.confusion, figure_png(confusion_figure(metrics)) if "confusion" in metrics else b"")
        self.misclassified.value = self._mistakes(metrics.get("misclassified", [])[:16])
        self.by_attribute.value = "".join(
            f"<b>accuracy by {html.escape(name)}</b>"
            + _table([{name: v, **m} for v, m in values.items()], [name, "accuracy", "n"])
            for name, values in list(metrics.get("by_attribute", {}).items())[:4]
        )
        self.usage.value = self._usage(row.id)
        self.status.ok(
            f"model {row.id}: {row.name}, {row.arch}, trained on {len(row.train_image_ids):,} images"
        )

    def _usage(self, model_id: int) -> str:
        """A card of the model's usage and a row per person and channel (the report has the days)."""
        rows = usage_of(self.state.workbench.catalog, model_id)
        if not rows:
            return empty_state("Not used yet: predictions from here, batch jobs and the API are counted.")
        totals = by_user_and_channel(rows)
        served = sum(r["predictions"] for r in totals)
        figures = {
            "predictions": served, "low_share": sum(r["low_confidence"] for r in totals) / served,
            "users": len({r["user"] for r in totals}), "last_used": str(rows[-1].day),
        }  # fmt: skip
        return _card("Usage", figures) + _table(totals, ["user", "channel", "predictions", "low_share"])

    def _mistakes(self, wrong: list[dict[str, Any]]) -> str:
        if not wrong:
            return "<i>none</i>"
        sha = image_hashes(self.state.workbench.catalog, [w["image_id"] for w in wrong])
        store = self.state.workbench.catalog.store
        return "".join(
            thumbnail_html(str(store.thumb_path(sha[w["image_id"]])), f"{w['true']}→{w['predicted']}")
            for w in wrong
            if w["image_id"] in sha
        )

    def _publish(self, change: dict) -> None:
        if self._showing:
            return
        if self.choice.value is not None and change["new"] != change["old"]:
            bench = self.state.workbench
            (bench.publish if change["new"] else bench.unpublish)(self.choice.value)

    def _links(self) -> None:
        if self.choice.value is None or self.downloads is None:
            self.status.error("downloads are not served here: the files are in the model's export folder")
            return
        export = self.state.workbench.export_folder(self.choice.value)  # fetched if trained elsewhere
        target = self.downloads / str(self.choice.value)
        target.mkdir(parents=True, exist_ok=True)
        links = []
        for name in DOWNLOADS:
            source = export / name
            if not source.exists():
                continue
            link = target / name
            if not link.exists():
                try:
                    os.link(source, link)  # instant, no second copy of a large file
                except OSError:
                    link.write_bytes(source.read_bytes())  # another filesystem
            url = f"{self.downloads_url}/{self.choice.value}/{name}"
            links.append(f"<a href='{url}' download class='workbench-download' data-file='{name}'>{name}</a>")
        self.links.value = " · ".join(links)
        self.status.ok(f"{len(links)} files ready to download")

    def _web_app(self) -> None:
        """The chosen model as an offline web app, zipped, with a link and how to open it."""
        from workbench.web import zip_web

        if self.choice.value is None or self.downloads is None:
            self.status.error("downloads are not served here: use `workbench export ID --web DIR`")
            return
        model_id = self.choice.value
        self.status.busy("exporting the web app (the model, onnxruntime-web, a service worker)…")
        folder = self.state.workbench.export_web(model_id, self.downloads / str(model_id) / "webapp")
        archive = zip_web(folder, self.downloads / str(model_id) / f"model-{model_id}-webapp.zip")
        url = f"{self.downloads_url}/{model_id}/{archive.name}"
        link = f"<a href='{url}' download class='workbench-download' data-file='{archive.name}'>"
        self.links.value = (
            f"{link}{archive.name}</a> · unzip it and serve the folder (<code>python -m http.server</code> "
            "in it), open the address once; it then works offline and installs as an app"
        )
        self.status.ok(
            f"web app of model {model_id} ready to download ({archive.stat().st_size / 2**20:.1f} MB)"
        )

    def _show_comparison(self) -> None:
        ids = list(self.compare_with.value) or ([self.choice.value] if self.choice.value else [])
        rows = self.state.workbench.compare(ids)
        flat = [
            {"id": r["id"], "name": r["name"], "arch": r["arch"], "same_images": r["same_training_images"]}
            | {k: v for k, v in r["metrics"].items() if not isinstance(v, dict)}
            for r in rows
        ]
        columns = sorted({k for r in flat for k in r}, key=lambda k: (k not in ("id", "name", "arch"), k))
        self.comparison.value = _table(flat, columns)
