"""Shared pieces of report sections: figures as PNG, small HTML tables, thumbnail galleries."""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from IPython.display import HTML
from matplotlib.figure import Figure

from workbench.storage import BlobStore

# A small blob is its own thumbnail, in its own format: the data URI names the real one.
_MAGIC = [
    (b"\xff\xd8", "image/jpeg"),
    (b"\x89PNG", "image/png"),
    (b"GIF8", "image/gif"),
    (b"BM", "image/bmp"),
    (b"RIFF", "image/webp"),
]
_LEFT = "style='text-align:left'"  # the lab stylesheet right-aligns table cells
Column = tuple[str, str, Callable[[Any], str]]  # key, title, format


def png(figure: Figure, alt: str) -> HTML:
    """The figure as an embedded PNG with its description (a report's HTML carries it inline)."""
    return HTML(figure_html(figure, alt))


def figure_html(figure: Figure, alt: str, dpi: int = 90) -> str:
    """The figure as an <img> with its PNG inside (a report's HTML needs no other file)."""
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, bbox_inches="tight")
    data = base64.b64encode(buffer.getvalue()).decode()
    return f'<img class="workbench-figure" alt="{html.escape(alt)}" src="data:image/png;base64,{data}"/>'


def section(title: str, body: str | HTML | None, intro: str = "") -> HTML | None:
    """A titled section, or nothing at all when there is nothing to show in it (a report with an
    empty section wastes its reader's minute)."""
    if body is None:
        return None
    inner = body.data if isinstance(body, HTML) else body
    lead = f"<p>{html.escape(intro)}</p>" if intro else ""
    return HTML(f"<h2>{html.escape(title)}</h2>{lead}{inner}")


def title(text: str, subtitle: str = "") -> HTML:
    """The report's title: what it is about, by name."""
    below = f"<p style='color:#57606a'>{html.escape(subtitle)}</p>" if subtitle else ""
    return HTML(f"<h1>{html.escape(text)}</h1>{below}")


def verdict(sentences: list[str]) -> HTML:
    """The paragraph a reader in a hurry reads and stops at."""
    text = " ".join(s.strip() for s in sentences if s.strip())
    return HTML(
        "<p class='workbench-verdict' style='font-size:1.15em;border-left:4px solid #0969da;"
        f"padding:6px 12px;background:#f6f8fa'>{html.escape(text)}</p>"
    )


def note(text: str) -> HTML:
    return HTML(f"<p><em>{html.escape(text)}</em></p>")


def facts(pairs: dict[str, Any]) -> HTML:
    """A two-column table of names and values."""
    rows = "".join(
        f"<tr><th {_LEFT}>{html.escape(k)}</th><td {_LEFT}>{html.escape(str(v))}</td></tr>"
        for k, v in pairs.items()
    )
    return HTML(f"<table>{rows}</table>")


def table(rows: Sequence[dict[str, Any]], columns: Sequence[Column]) -> HTML:
    head = "".join(f"<th>{html.escape(title)}</th>" for _, title, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(fmt(row.get(key)))}</td>" for key, _, fmt in columns) + "</tr>"
        for row in rows
    )
    return HTML(f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>")


def percent(value: Any) -> str:
    return "—" if value is None else f"{value:.1%}"


def number(value: Any) -> str:
    if value is None:
        return "—"
    return f"{value:,}" if isinstance(value, int) else f"{value:,.3f}"


def text(value: Any) -> str:
    return "—" if value is None else str(value)


@dataclass(frozen=True)
class Tile:
    sha256: str
    caption: str
    title: str


def gallery(store: BlobStore, tiles: Sequence[Tile], size: int = 72) -> HTML:
    """Thumbnails with captions, embedded as data URIs so the HTML needs no other file."""
    cells = []
    for tile in tiles:
        path = store.thumb_path(tile.sha256)
        raw = path.read_bytes()
        data = base64.b64encode(raw).decode()
        mime = next((m for magic, m in _MAGIC if raw.startswith(magic)), "image/png")
        cells.append(
            f'<figure style="margin:4px;text-align:center" title="{html.escape(tile.title)}">'
            f'<img src="data:{mime};base64,{data}" alt="{html.escape(tile.caption)}" '
            f'style="width:{size}px;height:{size}px;'
            f'object-fit:contain;image-rendering:pixelated;background:#f4f4f4"/>'
            f'<figcaption style="font-size:11px">{html.escape(tile.caption)}</figcaption></figure>'
        )
    return HTML('<div style="display:flex;flex-wrap:wrap">' + "".join(cells) + "</div>")
