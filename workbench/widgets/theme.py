"""The dashboard's stylesheet (theme.css) as a widget: in the widget tree rather than in Voila's
template so that the dashboard looks the same in JupyterLab."""

from __future__ import annotations

from pathlib import Path

import ipywidgets as widgets

STYLESHEET = Path(__file__).with_name("theme.css")
ROOT_CLASS = "workbench-dashboard"  # every rule in theme.css is scoped under it


def theme_style() -> widgets.HTML:
    style = widgets.HTML(f"<style>{STYLESHEET.read_text()}</style>", layout=widgets.Layout(display="none"))
    style.add_class("workbench-theme")
    return style
