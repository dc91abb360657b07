"""Personal tokens for the REST API, made and revoked by their owner: the token's text is shown
once, when made (only its hash is kept)."""

from __future__ import annotations

import html

import ipywidgets as widgets

from workbench.widgets.common import WIDE, Status, empty_state, guarded
from workbench.widgets.state import DashboardState


class TokensPanel(widgets.VBox):
    def __init__(self, state: DashboardState) -> None:
        self.state = state
        self.name = widgets.Text(
            placeholder="what it is for, e.g. the collector app", layout=widgets.Layout(width="320px")
        )
        self.name.add_class("workbench-token-name")
        scopes = [("read only", "read"), ("read and write", "write")]
        self.scope = widgets.Dropdown(
            options=scopes, description="May", style=WIDE, layout=widgets.Layout(width="220px")
        )
        self.days = widgets.BoundedIntText(90, min=1, max=365, description="Days", style=WIDE,
                                           layout=widgets.Layout(width="140px"))  # fmt: skip
        self.create = widgets.Button(description="Make a token", icon="key", button_style="primary")
        self.shown = widgets.HTML()  # the new token's text, this once
        self.shown.add_class("workbench-new-token")
        self.listing = widgets.VBox()
        self.status = Status("tokens")
        self.create.on_click(guarded(self.status)(lambda _: self._create()))
        super().__init__(
            [
                widgets.HTML("<b>API tokens</b>: for programs and apps using the REST API (`workbench api`)"),
                widgets.HBox([self.name, self.scope, self.days, self.create]),
                self.shown,
                self.status,
                self.listing,
            ]
        )
        self.refresh()

    def refresh(self) -> None:
        tokens = [t for t in self.state.workbench.tokens() if not t.revoked]
        if not tokens:
            self.listing.children = [widgets.HTML(empty_state("No tokens yet: make one above."))]
            return
        rows = []
        for token in tokens:
            revoke = widgets.Button(description="Revoke", icon="ban", layout=widgets.Layout(width="auto"))
            revoke.add_class("workbench-revoke-token")
            revoke.on_click(guarded(self.status)(lambda _, token_id=token.id: self._revoke(token_id)))
            words = f"{token.name}: {token.scope}, until {token.expires_at:%Y-%m-%d} (id {token.id})"
            rows.append(widgets.HBox([widgets.HTML(html.escape(words)), revoke]))
        self.listing.children = rows

    def _create(self) -> None:
        info, text = self.state.workbench.create_token(self.name.value, self.scope.value, self.days.value)
        self.name.value = ""
        self.shown.value = (
            f"<div class='workbench-card'>Your new token (copy it now: it is not shown again):<br>"
            f"<code style='user-select:all'>{html.escape(text)}</code></div>"
        )
        self.status.ok(f"token {info.id} made: {info.scope}, until {info.expires_at:%Y-%m-%d}")
        self.refresh()

    def _revoke(self, token_id: str) -> None:
        self.state.workbench.revoke_token(token_id)
        self.shown.value = ""
        self.status.ok(f"token {token_id} revoked: programs using it are refused from now on")
        self.refresh()
