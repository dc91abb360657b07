"""Photos handed over to classify (``workbench predict FILE``, the dashboard's Predict tab),
opened without trusting them: plain raster formats only, the size and the pixel count its header
claims checked against the limits before anything is decoded. Every refusal is one ImageError
line; a pixel bomb raised Pillow's DecompressionBombError, which is not an OSError, as a traceback.
"""

from __future__ import annotations

import io
import os
import warnings
from pathlib import Path

from PIL import Image, UnidentifiedImageError

from workbench.config import Limits
from workbench.errors import ImageError
from workbench.ingest.probe import ALLOWED_FORMATS


def read_photo(path: str | Path, limits: Limits) -> bytes:
    """The bytes of the file at ``path``, refused when larger than ``limits.max_image_bytes``."""
    try:
        with open(path, "rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size > limits.max_image_bytes:
                raise ImageError(
                    f"{path} is {size:,} bytes; the limit for an image is {limits.max_image_bytes:,}"
                )
            return handle.read(limits.max_image_bytes + 1)
    except OSError as exc:
        raise ImageError(f"cannot read {path}: {exc.strerror or exc}") from exc


def open_photo(data: bytes, limits: Limits, name: str = "that file") -> Image.Image:
    """``data`` decoded as an image, or ImageError saying why it cannot be classified."""
    if len(data) > limits.max_image_bytes:
        raise ImageError(
            f"{name} is {len(data):,} bytes; the limit for an image is {limits.max_image_bytes:,}"
        )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS)
            width, height = image.size
            if width * height > limits.max_image_pixels:
                raise ImageError(
                    f"{name} claims {width}x{height} = {width * height:,} pixels, over the limit of "
                    f"{limits.max_image_pixels:,}: a decompression bomb, or a scan to shrink first"
                )
            image.load()
    except UnidentifiedImageError as exc:
        raise ImageError(
            f"{name} is not an image in a supported format ({', '.join(ALLOWED_FORMATS)})"
        ) from exc
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise ImageError(f"{name} is refused as a decompression bomb: {exc}") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageError(f"{name} is a damaged or truncated image ({exc})") from exc
    return image
