"""Choose a dataset, or bring a new one: a zip uploaded from the browser or a path on the server."""

from __future__ import annotations

import hashlib
import html
from pathlib import Path
from typing import Any

import ipywidgets as widgets

from workbench.api import DatasetInfo
from workbench.demo import DATASET, write_digits
from workbench.errors import WorkbenchError
from workbench.jobs import Job
from workbench.jobs.records import SUCCEEDED, JobInfo
from workbench.jobs.widget import follow
from workbench.widgets.common import Status, guarded, log
from workbench.widgets.jobs import DashboardJob
from workbench.widgets.state import DashboardState


class DatasetPicker(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self._replacing = False
        self.choice = widgets.Dropdown(description="Dataset", layout=widgets.Layout(width="420px"))
        self.choice.add_class("workbench-dataset-choice")
        self.notice = widgets.HTML()
        self.notice.add_class("workbench-notice")
        self.choice.observe(self._chosen, names="value")
        self.upload = widgets.FileUpload(accept=".zip", multiple=False, description="Zip of images")
        self.upload.add_class("workbench-upload")
        self.upload.add_class("workbench-upload-zip")
        self.chosen = widgets.HTML()  # the chosen zip's name and size: the button shows neither
        self.chosen.add_class("workbench-chosen")
        self.upload.observe(lambda _: self._show_chosen(), names="value")
        self.server_path = widgets.Text(
            placeholder="or a folder / zip on the server, e.g. /data/photos.zip",
            layout=widgets.Layout(width="420px"),
        )
        self.name = widgets.Text(placeholder="new dataset name", layout=widgets.Layout(width="200px"))
        self.name.add_class("workbench-new-name")
        self.ingest_button = widgets.Button(description="Ingest", icon="upload", button_style="primary")
        # A chain: predict the new dataset with a model once it is in (one job, both steps).
        self.then_predict = widgets.Checkbox(description="then predict with", indent=False,
                                             layout=widgets.Layout(width="auto"))  # fmt: skip
        self.then_predict.add_class("workbench-then-predict")
        self.predict_model = widgets.Dropdown(layout=widgets.Layout(width="260px"))
        self.predict_model.add_class("workbench-then-predict-model")
        self.sample = widgets.Button(
            description="Try the sample dataset", icon="magic", layout=widgets.Layout(width="auto"),
            tooltip=f"{DATASET!r}: 1,797 small scans of handwritten digits, 0 to 9",
        )  # fmt: skip
        self.sample.add_class("workbench-sample")
        self.status = Status("datasets")
        self.job_area = widgets.VBox()
        self.ingest_button.on_click(guarded(self.status)(self._ingest))
        self.append_button = widgets.Button(
            icon="plus", button_style="warning", layout=widgets.Layout(width="auto", display="none")
        )
        self.append_button.add_class("workbench-append")
        self.append_button.on_click(guarded(self.status)(lambda b: self._ingest(b, append=True)))
        self.sample.on_click(guarded(self.status)(lambda _: self._ingest_sample()))
        state.observe(lambda _: self.refresh(), names="datasets_changed")
        state.observe(lambda _: self._refresh_models(), names="models_changed")
        super().__init__(
            [
                self.notice,
                self.choice,
                widgets.HTML("<b>Bring images</b>: a zip with one folder per label (cats/…, dogs/…)"),
                widgets.HBox([self.upload, self.chosen, self.name, self.ingest_button]),
                self.server_path,
                widgets.HBox([self.then_predict, self.predict_model]),
                self.sample,
                self.status,
                self.append_button,
                self.job_area,
            ]
        )
        self.refresh()
        self._refresh_models()

    def _refresh_models(self) -> None:
        """The models that can predict (those with an export): yours, then shared or published."""
        models = [m for m in self.state.workbench.models() if m["export_dir"]]
        chosen = self.predict_model.value
        self.predict_model.options = [
            (f"{m['id']}: {m['name']}" + (f" ({m['owner']})" if m.get("owner") else ""), m["id"])
            for m in models
        ]
        ids = [m["id"] for m in models]
        self.predict_model.value = chosen if chosen in ids else (ids[0] if ids else None)

    def refresh(self) -> None:
        """New options, the chosen dataset kept: replacing a Dropdown's options moves it to the
        first one, and that move must not read as the person's choice. With nothing chosen yet
        the first dataset is; a name that is not there (a typo in ?dataset=, a deleted dataset)
        is said in plain words, and no other dataset pretends to be it."""
        infos = self.state.workbench.datasets()
        options = [(_words(d), d.name) for d in infos]
        names = [name for _, name in options]
        requested = self.state.dataset
        value = requested if requested in names else (names[0] if names and not requested else None)
        self._replacing = True
        try:
            self.choice.options = options
            self.choice.value = value
        finally:
            self._replacing = False
        if requested and value is None:
            log.warning("no dataset named %r: the page asked for it", requested)
            self.notice.value = (
                f"<b>No dataset named {html.escape(repr(requested))}.</b> Pick one:" if names else
                f"<b>No dataset named {html.escape(repr(requested))}</b>, and none yet: bring one below."
            )  # fmt: skip
        if self.state.dataset != value:
            self.state.dataset = value

    def _chosen(self, change: dict) -> None:
        if self._replacing:
            return
        if change["new"] and change["new"] != self.state.dataset:
            self.notice.value = ""
            self.state.spec = {}
            self.state.dataset = change["new"]

    def _ingest(self, _: widgets.Button, append: bool = False) -> None:
        """Into a name that exists, only after the person says so (a typo must not mix datasets)."""
        name = self.name.value.strip()
        if not name:
            raise WorkbenchError("give the new dataset a name first")
        path = self._source()
        existing = {d.name: d.images for d in self.state.workbench.datasets()}
        if name in existing and not append:
            self.append_button.description = f"Add them to {name!r}"
            self.append_button.layout.display = None
            raise WorkbenchError(
                f"A dataset named {name!r} already has {existing[name]:,} images. Add these images "
                "to it with the button below, or type another name."
            )
        self.append_button.layout.display = "none"
        then_predict = None
        if self.then_predict.value:
            if self.predict_model.value is None:
                raise WorkbenchError("no model to predict with yet: train one, or untick 'then predict with'")
            then_predict = self.predict_model.value
        job = self.state.workbench.ingest_job(path, name, append=append, then_predict=then_predict)
        self._follow(job, name)

    def _ingest_sample(self) -> None:
        """The demo's digits, one click away (a second click adds nothing: images are deduplicated)."""
        images, labels_csv = write_digits(self.state.workbench.settings.data_dir / "demo" / DATASET)
        workbench = self.state.workbench
        options: dict[str, Any] = {
            "labels_csv": workbench.share(labels_csv), "label_column": "digit", "split": "0.8,0.1,0.1",
            "append": True,
        }  # fmt: skip
        self._follow(workbench.ingest_job(workbench.share(images), DATASET, **options), DATASET)

    def _follow(self, job: Job, name: str) -> None:
        self.job_area.children = [DashboardJob(job)]
        self.status.busy(f"bringing images into {name!r}…")
        follow(job, lambda info: self._ingest_reading(info, name))

    def _show_chosen(self) -> None:
        if not self.upload.value:
            self.chosen.value = ""
            return
        upload = self.upload.value[0]
        words = f"{html.escape(upload['name'])}, {len(upload['content']) / 1e6:,.1f} MB"
        self.chosen.value = f"<span style='padding:0 8px'>{words}</span>"

    def _source(self) -> str:
        """The uploaded zip, saved under the data directory and shared with every worker host."""
        if self.server_path.value.strip():
            path = Path(self.server_path.value.strip()).expanduser()
            if not path.exists():
                raise WorkbenchError(f"{path} does not exist on the server")
            return str(path)
        if not self.upload.value:
            raise WorkbenchError("choose a zip to upload, or give a path on the server")
        upload = self.upload.value[0]
        content = bytes(upload["content"])
        folder = self.state.workbench.settings.data_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{hashlib.sha256(content).hexdigest()[:16]}-{Path(upload['name']).name}"
        target.write_bytes(content)
        return self.state.workbench.share(target)

    def _ingest_reading(self, info: JobInfo, name: str) -> None:
        if not info.finished:
            return
        if info.state == SUCCEEDED:
            result = info.result or {}
            switched = not self.state.dataset  # else the person's choice stays: they pick the new one
            if switched:
                self.state.dataset = name
            self.state.datasets_changed += 1
            self.upload.value = ()
            hint = "" if switched else "; choose it above to use it"
            predicted = f", {result['predicted']:,} predicted" if "predicted" in result else ""
            self.status.ok(  # last: what tests wait for, once the picker shows the new dataset
                f"dataset {name!r}: {result.get('ingested', 0):,} images ingested, "
                f"{len(result.get('skipped', [])):,} skipped{predicted}{hint}"
            )
        else:
            self.status.error(f"the ingest {info.state}: {info.error or info.message}")


def _words(info: DatasetInfo) -> str:
    shared = f"; shared by {info.owner}, read-only" if info.owner else ""
    return f"{info.name} ({info.images:,} images, {info.labels} labels{shared})"
