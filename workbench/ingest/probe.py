"""Decode one image fully, measure it and make its thumbnail, or say why it cannot be used."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from workbench.config import Limits
from workbench.ingest.items import SkipFile
from workbench.storage import THUMBNAIL_SIZE

# Only plain raster formats: Pillow can also open EPS (which runs Ghostscript) and others we do
# not want a hostile upload to reach.
ALLOWED_FORMATS = ("JPEG", "PNG", "GIF", "BMP", "WEBP", "TIFF")


@dataclass(frozen=True)
class Probed:
    width: int
    height: int
    format: str
    thumbnail: bytes | None  # None when the image is already small enough to be its own


def probe(data: bytes, limits: Limits) -> Probed:
    """Measure ``data`` as an image; raises SkipFile with a reason a person can act on."""
    if not data:
        raise SkipFile("empty file")
    if len(data) > limits.max_image_bytes:
        raise SkipFile(f"file too large ({len(data):,} bytes; the limit is {limits.max_image_bytes:,})")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise SkipFile(_too_many_pixels(width, height, limits))
            image.load()  # a full decode: the only way to catch a truncated or corrupt body
            return Probed(width, height, str(image.format), _thumbnail(image))
    except UnidentifiedImageError as exc:
        raise SkipFile(f"not an image in a supported format ({', '.join(ALLOWED_FORMATS)})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SkipFile(f"decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise SkipFile(f"corrupt or truncated image: {exc}") from exc


def _too_many_pixels(width: int, height: int, limits: Limits) -> str:
    return (
        f"image claims {width}x{height} = {width * height:,} pixels, over the limit of "
        f"{limits.max_image_pixels:,} (a decompression bomb or a scan too large to train on)"
    )


def _thumbnail(image: Image.Image) -> bytes | None:
    if max(image.size) <= THUMBNAIL_SIZE:
        return None
    thumb = image.convert("RGB") if image.mode not in ("RGB", "L") else image.copy()
    thumb.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))
    out = io.BytesIO()
    thumb.save(out, format="JPEG", quality=85)
    return out.getvalue()
