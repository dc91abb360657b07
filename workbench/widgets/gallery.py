"""A paged grid of thumbnails of the current view, each captioned with its label."""

from __future__ import annotations

import ipywidgets as widgets

from workbench.widgets.common import Status, empty_state, thumbnail_html
from workbench.widgets.state import DashboardState

PAGE = 48


class Gallery(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.page = 0
        self.grid = widgets.HTML()
        self.previous = widgets.Button(description="Previous", icon="chevron-left")
        self.next = widgets.Button(description="Next", icon="chevron-right")
        self.where = Status("gallery")
        self.previous.on_click(lambda _: self.show(self.page - 1))
        self.next.on_click(lambda _: self.show(self.page + 1))
        state.observe(lambda _: self.show(0), names=["dataset", "spec", "datasets_changed"])
        super().__init__([widgets.HBox([self.previous, self.next, self.where]), self.grid])
        self.show(0)

    def show(self, page: int) -> None:
        view = self.state.view()
        if view is None:
            self.grid.value = empty_state(
                "No dataset chosen yet: bring one above, or try the sample dataset."
            )
            self.where.value = ""
            return
        count = view.count()
        pages = max(1, -(-count // PAGE))
        self.page = min(max(0, page), pages - 1)
        store = self.state.workbench.catalog.store
        self.grid.value = "".join(
            thumbnail_html(str(store.thumb_path(r.sha256)), r.label) for r in view.page(self.page, PAGE)
        ) or empty_state("No image matches this filter: widen it, or press Clear.")
        self.where.ok(f"page {self.page + 1} of {pages} ({count:,} images)")
        self.previous.disabled = self.page == 0
        self.next.disabled = self.page >= pages - 1
