"""The chosen dataset's owner actions: share it read-only with colleagues, or delete it. On a
dataset shared with the person, both are refused with whose it is (the catalog says so)."""

from __future__ import annotations

import ipywidgets as widgets

from workbench.errors import ReadOnlyError, WorkbenchError
from workbench.widgets.common import Status, guarded
from workbench.widgets.state import DashboardState


class DatasetActions(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.people = widgets.Text(
            placeholder="colleagues' user names, e.g. bob, carol", layout=widgets.Layout(width="300px")
        )
        self.people.add_class("workbench-share-with")
        self.share = widgets.Button(
            description="Share read-only", icon="share-alt", layout=widgets.Layout(width="auto")
        )
        self.share.add_class("workbench-share")
        self.delete = widgets.Button(
            description="Delete dataset", icon="trash", layout=widgets.Layout(width="auto")
        )
        self.delete.add_class("workbench-delete-dataset")
        self.status = Status("sharing")
        self._armed: str | None = None  # the dataset a first click on Delete asked about
        self.share.on_click(guarded(self.status)(lambda _: self._share()))
        self.delete.on_click(guarded(self.status)(lambda _: self._delete()))
        state.observe(lambda _: self._disarm(), names="dataset")
        super().__init__([widgets.HBox([self.people, self.share, self.delete]), self.status])

    def _share(self) -> None:
        dataset = self._dataset()
        people = [name.strip() for name in self.people.value.replace(",", " ").split()]
        everyone = self.state.workbench.share_dataset(dataset, people)
        self.people.value = ""
        self.status.ok(f"{dataset!r} is shared read-only with: {', '.join(everyone)}")

    def _delete(self) -> None:
        """Two clicks: the first says what will go, the second deletes it."""
        dataset = self._dataset()
        owner = next((d.owner for d in self.state.workbench.datasets() if d.name == dataset), None)
        if owner is not None:  # shared with this person: refused before any "are you sure"
            raise ReadOnlyError.shared(f"dataset {dataset!r}", owner)
        if self._armed != dataset:
            images = self.state.workbench.dataset(dataset).count()
            self._armed = dataset
            self.delete.description = f"Click again to delete {dataset!r} ({images:,} images)"
            self.delete.button_style = "danger"
            self.status.busy("Deleting cannot be undone; models trained on it keep their files.")
            return
        images = self.state.workbench.delete_dataset(dataset)
        self._disarm()
        self.state.dataset = None
        self.state.datasets_changed += 1
        self.status.ok(f"dataset {dataset!r} deleted with its {images:,} images")

    def _disarm(self) -> None:
        self._armed = None
        self.delete.description = "Delete dataset"
        self.delete.button_style = ""

    def _dataset(self) -> str:
        if not self.state.dataset:
            raise WorkbenchError("choose a dataset first")
        return self.state.dataset
