"""Check one image, measure it and make its thumbnail, or say why it cannot be used.

A full decode costs 3-4x the rest of an ingest for a small JPEG (about 200 us of ~260 us per
64-128 px image here, whatever the decoder), so the common formats are checked by their
structure instead: a JPEG must end its last scan with an end-of-image marker (what a truncated
file lacks, and the only JPEG damage Pillow's own decode reports as an error rather than a
warning), a PNG must pass Pillow's verify (every chunk's CRC, through IEND). Other formats are
decoded in full. Images larger than a thumbnail are decoded anyway, reduced (JPEG draft mode).
See docs/decisions.md.
"""

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
_JPEG_START_OF_SCAN, _JPEG_END_OF_IMAGE = b"\xff\xda", b"\xff\xd9"
# The two formats nearly every dataset is made of, told by their first bytes: naming the one
# plugin to try halves Pillow's open for a small image.
_BY_SIGNATURE = {b"\xff\xd8\xff": ("JPEG",), b"\x89PNG\r\n\x1a\n": ("PNG",)}


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
            image = Image.open(io.BytesIO(data), formats=_formats(data))
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise SkipFile(_too_many_pixels(width, height, limits))
            _check_body(image, data)
            return Probed(width, height, str(image.format), _thumbnail(image))
    except UnidentifiedImageError as exc:
        raise SkipFile(f"not an image in a supported format ({', '.join(ALLOWED_FORMATS)})") from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise SkipFile(f"decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise SkipFile(f"corrupt or truncated image: {exc}") from exc


def _formats(data: bytes) -> tuple[str, ...]:
    for signature, formats in _BY_SIGNATURE.items():
        if data.startswith(signature):
            return formats
    return ALLOWED_FORMATS


def _check_body(image: Image.Image, data: bytes) -> None:
    """Raise OSError/SyntaxError when the image data is cut short or damaged."""
    if image.format == "JPEG":
        # Entropy-coded data escapes every 0xFF, so the last SOS marker is the last scan's and an
        # end-of-image marker after it means the scan was not cut short.
        if data.rfind(_JPEG_END_OF_IMAGE) < data.rfind(_JPEG_START_OF_SCAN):
            raise OSError("image file is truncated (no end-of-image marker after the last scan)")
    elif image.format == "PNG":
        Image.open(io.BytesIO(data), formats=("PNG",)).verify()  # verify spends its image
    else:
        image.load()


def _too_many_pixels(width: int, height: int, limits: Limits) -> str:
    return (
        f"image claims {width}x{height} = {width * height:,} pixels, over the limit of "
        f"{limits.max_image_pixels:,} (a decompression bomb or a scan too large to train on)"
    )


def _thumbnail(image: Image.Image) -> bytes | None:
    if max(image.size) <= THUMBNAIL_SIZE:
        return None
    if image.mode not in ("RGB", "L"):
        image = image.convert("RGB")
    image.thumbnail((THUMBNAIL_SIZE, THUMBNAIL_SIZE))  # draft-decodes a JPEG at a reduced scale
    out = io.BytesIO()
    image.save(out, format="JPEG", quality=85)
    return out.getvalue()
