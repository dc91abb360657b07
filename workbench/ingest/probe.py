"""Check one image, measure it and make its thumbnail, or say why it cannot be used.

A full decode costs 3-4x the rest of an ingest for a small JPEG (about 200 us of ~260 us per
64-128 px image here, whatever the decoder), so the common formats are checked by their
structure instead: a JPEG must end its last scan with an end-of-image marker (what a truncated
file lacks, and the only JPEG damage Pillow's own decode reports as an error rather than a
warning), a PNG must pass Pillow's verify (every chunk's CRC, through IEND). Other formats are
decoded in full. Images larger than a thumbnail are decoded anyway, reduced (JPEG draft mode).
A thumbnail-sized JPEG is measured from its frame header by a marker walk of our own, half the
cost of Pillow's open; whatever that walk does not fully understand goes to Pillow.
See docs/decisions.md (#10).
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
    if small := _small_jpeg(data, limits):
        return small
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


def _small_jpeg(data: bytes, limits: Limits) -> Probed | None:
    """A whole, thumbnail-sized JPEG measured from its frame header without Pillow (a third of
    an ingest's per-image time went to Pillow's parse of every table); None for anything else,
    which Pillow then judges, so this path only ever accepts what Pillow would."""
    if not data.startswith(b"\xff\xd8\xff"):
        return None
    size = _jpeg_frame_size(data)
    if size is None or max(size) > THUMBNAIL_SIZE or size[0] * size[1] > limits.max_image_pixels:
        return None
    if _jpeg_cut_short(data):
        return None
    return Probed(size[0], size[1], "JPEG", None)


# Start-of-frame markers (baseline, progressive, lossless, arithmetic); not C4/C8/CC (tables).
_JPEG_FRAMES = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})


def _jpeg_frame_size(data: bytes) -> tuple[int, int] | None:
    """(width, height) from the frame header, walking marker segments up to the first scan as
    Pillow's open does; None when the walk finds anything unexpected."""
    at, end, size = 2, len(data), None
    while at + 4 <= end:
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        length = (data[at + 2] << 8) | data[at + 3]
        if length < 2 or at + 2 + length > end:
            return None
        if marker in _JPEG_FRAMES:
            # Pillow handles 8-bit samples in 1, 3 or 4 components only
            if length < 8 or size is not None or data[at + 4] != 8 or data[at + 9] not in (1, 3, 4):
                return None
            size = ((data[at + 7] << 8) | data[at + 8], (data[at + 5] << 8) | data[at + 6])
        elif marker == 0xDA:  # start of scan: the headers are over
            return size if size and size[0] and size[1] else None
        at += 2 + length
    return None


def _formats(data: bytes) -> tuple[str, ...]:
    for signature, formats in _BY_SIGNATURE.items():
        if data.startswith(signature):
            return formats
    return ALLOWED_FORMATS


def _check_body(image: Image.Image, data: bytes) -> None:
    """Raise OSError/SyntaxError when the image data is cut short or damaged."""
    if image.format == "JPEG":
        if _jpeg_cut_short(data):
            raise OSError("image file is truncated (no end-of-image marker after the last scan)")
    elif image.format == "PNG":
        Image.open(io.BytesIO(data), formats=("PNG",)).verify()  # verify spends its image
    else:
        image.load()


def _jpeg_cut_short(data: bytes) -> bool:
    # Entropy-coded data escapes every 0xFF, so the last SOS marker is the last scan's and an
    # end-of-image marker after it means the scan was not cut short.
    return data.rfind(_JPEG_END_OF_IMAGE) < data.rfind(_JPEG_START_OF_SCAN)


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
