"""The one look of every object a notebook shows (a dataset, a view, a model, a job, a report):
a small card of plain facts, as HTML that needs no stylesheet, so it reads the same in JupyterLab
and in an executed notebook's HTML. Objects call ``card`` from their ``_repr_html_``.

It sits in the foundation so that the catalog's rows and the job framework can use it too.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

_CARD = (
    "border:1px solid #d0d7de;border-radius:6px;padding:8px 12px;margin:4px 0;"
    "display:inline-block;min-width:260px;font-family:system-ui,sans-serif;font-size:13px"
)
_CELL = "text-align:left;padding:1px 12px 1px 0;vertical-align:top"


def card(kind: str, title: str, facts: Mapping[str, Any], *, note: str = "", extra_html: str = "") -> str:
    """A titled card of name/value rows; ``kind`` becomes the class ``workbench-<kind>`` (tests and
    stylesheets find cards by it). Values are escaped; ``extra_html`` is trusted markup."""
    rows = "".join(
        f"<tr><th style='{_CELL};color:#57606a;font-weight:normal'>{html.escape(name)}</th>"
        f"<td style='{_CELL}'>{html.escape(str(value))}</td></tr>"
        for name, value in facts.items()
    )
    remark = f"<div style='color:#57606a;margin-top:4px'>{html.escape(note)}</div>" if note else ""
    return (
        f'<div class="workbench-card workbench-{kind}" style="{_CARD}">'
        f"<div style='font-weight:600;margin-bottom:4px'>{html.escape(title)}</div>"
        f"<table style='border-collapse:collapse'>{rows}</table>{remark}{extra_html}</div>"
    )


def listing(kind: str, rows: Sequence[Mapping[str, Any]], empty: str) -> str:
    """A table of objects (the columns are the first row's keys), or ``empty`` said in words."""
    if not rows:
        return f'<div class="workbench-card workbench-{kind}" style="{_CARD}">{html.escape(empty)}</div>'
    head = "".join(f"<th style='{_CELL}'>{html.escape(name)}</th>" for name in rows[0])
    body = "".join(
        "<tr>" + "".join(f"<td style='{_CELL}'>{html.escape(str(v))}</td>" for v in row.values()) + "</tr>"
        for row in rows
    )
    return (
        f'<div class="workbench-card workbench-{kind}" style="{_CARD}">'
        f"<table style='border-collapse:collapse'><thead><tr>{head}</tr></thead>"
        f"<tbody>{body}</tbody></table></div>"
    )


def percent(value: float | None) -> str:
    """0.8333 -> '83.3%'; nothing known -> '—'."""
    return "—" if value is None else f"{value:.1%}"


def when(moment: Any) -> str:
    """A datetime as a person reads it (minutes, UTC); nothing known -> '—'."""
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None else "—"
