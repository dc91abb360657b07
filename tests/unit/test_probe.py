"""The JPEG fast path measures exactly what Pillow measures, and hands Pillow what it cannot."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from workbench.config import Limits
from workbench.ingest.items import SkipFile
from workbench.ingest.probe import _small_jpeg, probe


def jpeg(size: tuple[int, int], mode: str = "RGB", **options: object) -> bytes:
    out = io.BytesIO()
    Image.new(mode, size, "red" if mode == "RGB" else 128).save(out, format="JPEG", **options)
    return out.getvalue()


CASES = {
    "baseline": jpeg((64, 97)),
    "progressive": jpeg((120, 80), progressive=True),
    "grayscale": jpeg((33, 128), mode="L"),
    "cmyk": jpeg((70, 50), mode="CMYK"),
    "exif, restart markers": jpeg((100, 100), exif=b"Exif\x00\x00" + bytes(64), restart_marker_blocks=1),
    "optimized, subsampling 4:4:4": jpeg((128, 64), optimize=True, subsampling=0),
}


@pytest.mark.parametrize("data", CASES.values(), ids=CASES.keys())
def test_the_fast_path_measures_what_pillow_measures(data: bytes) -> None:
    fast = _small_jpeg(data, Limits())
    assert fast is not None
    assert (fast.width, fast.height) == Image.open(io.BytesIO(data)).size
    assert fast.format == "JPEG" and fast.thumbnail is None


def test_images_larger_than_a_thumbnail_go_to_pillow_for_one() -> None:
    data = jpeg((300, 200))
    assert _small_jpeg(data, Limits()) is None
    probed = probe(data, Limits())
    assert (probed.width, probed.height) == (300, 200) and probed.thumbnail is not None


@pytest.mark.parametrize(
    "damage",
    [
        lambda d: d[: len(d) // 2],  # cut inside the scan: no end-of-image marker
        lambda d: d[:2] + b"\x00" * 20 + d[22:],  # the headers overwritten
        lambda d: d.replace(b"\xff\xc0", b"\xff\xc4", 1) if b"\xff\xc0" in d else d[:40],  # no frame
    ],
    ids=["truncated", "headers overwritten", "no frame header"],
)
def test_damaged_jpegs_are_not_taken_by_the_fast_path(damage) -> None:  # type: ignore[no-untyped-def]
    data = damage(jpeg((64, 64)))
    assert _small_jpeg(data, Limits()) is None
    with pytest.raises(SkipFile):
        probe(data, Limits())


def test_a_frame_of_zero_width_is_left_to_pillow() -> None:
    data = bytearray(jpeg((64, 64)))
    frame = data.index(b"\xff\xc0")
    data[frame + 7 : frame + 9] = b"\x00\x00"
    assert _small_jpeg(bytes(data), Limits()) is None
