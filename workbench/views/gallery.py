"""A thumbnail grid for notebooks: plain HTML with embedded images, so it survives export."""

from __future__ import annotations

import base64
import html
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from IPython.display import HTML

    from workbench.storage import BlobStore
    from workbench.views import ImageRecord

_MIME = {
    "JPEG": "image/jpeg",
    "PNG": "image/png",
    "GIF": "image/gif",
    "BMP": "image/bmp",
    "WEBP": "image/webp",
    "TIFF": "image/tiff",
}


def thumbnail_grid(store: BlobStore, records: Sequence[ImageRecord], size: int = 96) -> HTML:
    from IPython.display import HTML

    cells = []
    for record in records:
        path = store.thumb_path(record.sha256)
        mime = "image/jpeg" if path.suffix == ".jpg" else _MIME.get(record.format, "image/png")
        data = base64.b64encode(path.read_bytes()).decode()
        title = html.escape(f"{record.original_name} ({record.width}x{record.height})")
        cells.append(
            f'<figure style="margin:4px;text-align:center" title="{title}">'
            f'<img src="data:{mime};base64,{data}" style="width:{size}px;height:{size}px;'
            f'object-fit:contain;image-rendering:pixelated;background:#f4f4f4"/>'
            f'<figcaption style="font-size:11px">{html.escape(record.label)}</figcaption></figure>'
        )
    return HTML('<div style="display:flex;flex-wrap:wrap">' + "".join(cells) + "</div>")
