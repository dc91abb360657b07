"""Choose a dataset, or bring a new one: a zip uploaded from the browser or a path on the server."""

from __future__ import annotations

import hashlib
from pathlib import Path

import ipywidgets as widgets

from workbench.errors import WorkbenchError
from workbench.jobs.records import SUCCEEDED, JobInfo
from workbench.jobs.widget import JobWidget, follow
from workbench.widgets.common import Status, guarded
from workbench.widgets.state import DashboardState


class DatasetPicker(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.choice = widgets.Dropdown(description="Dataset", layout=widgets.Layout(width="420px"))
        self.choice.add_class("workbench-dataset-choice")
        self.choice.observe(self._chosen, names="value")
        self.upload = widgets.FileUpload(accept=".zip", multiple=False, description="Zip of images")
        self.server_path = widgets.Text(
            placeholder="or a folder / zip on the server, e.g. /data/photos.zip",
            layout=widgets.Layout(width="420px"),
        )
        self.name = widgets.Text(placeholder="new dataset name", layout=widgets.Layout(width="200px"))
        self.name.add_class("workbench-new-name")
        self.ingest_button = widgets.Button(description="Ingest", icon="upload", button_style="primary")
        self.status = Status("datasets")
        self.job_area = widgets.VBox()
        self.ingest_button.on_click(guarded(self.status)(self._ingest))
        state.observe(lambda _: self.refresh(), names="datasets_changed")
        super().__init__(
            [
                self.choice,
                widgets.HTML("<b>Bring images</b>: an ImageFolder (one folder per label), zipped"),
                widgets.HBox([self.upload, self.name, self.ingest_button]),
                self.server_path,
                self.status,
                self.job_area,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        infos = self.state.workbench.datasets()
        options = [(f"{d.name} ({d.images:,} images, {d.labels} labels)", d.name) for d in infos]
        self.choice.options = options
        names = [name for _, name in options]
        if self.state.dataset in names:
            self.choice.value = self.state.dataset
        elif names:
            self.choice.value = names[0]

    def _chosen(self, change: dict) -> None:
        if change["new"] and change["new"] != self.state.dataset:
            self.state.spec = {}
            self.state.dataset = change["new"]

    def _ingest(self, _: widgets.Button) -> None:
        name = self.name.value.strip()
        if not name:
            raise WorkbenchError("give the new dataset a name first")
        path = self._source()
        job = self.state.workbench.ingest_job(path, name)
        self.job_area.children = [JobWidget(job)]
        self.status.busy(f"ingesting into {name!r}…")
        follow(job, lambda info: self._ingest_reading(info, name))

    def _source(self) -> Path:
        """The uploaded zip, saved under the data directory where any worker can read it."""
        if self.server_path.value.strip():
            path = Path(self.server_path.value.strip()).expanduser()
            if not path.exists():
                raise WorkbenchError(f"{path} does not exist on the server")
            return path
        if not self.upload.value:
            raise WorkbenchError("choose a zip to upload, or give a path on the server")
        upload = self.upload.value[0]
        content = bytes(upload["content"])
        folder = self.state.workbench.settings.data_dir / "uploads"
        folder.mkdir(parents=True, exist_ok=True)
        target = folder / f"{hashlib.sha256(content).hexdigest()[:16]}-{Path(upload['name']).name}"
        target.write_bytes(content)
        return target

    def _ingest_reading(self, info: JobInfo, name: str) -> None:
        if not info.finished:
            return
        if info.state == SUCCEEDED:
            result = info.result or {}
            self.status.ok(
                f"dataset {name!r}: {result.get('ingested', 0):,} images ingested, "
                f"{len(result.get('skipped', [])):,} skipped"
            )
            self.state.dataset = name
            self.state.datasets_changed += 1
            self.upload.value = ()
        else:
            self.status.error(f"the ingest {info.state}: {info.error or info.message}")
