"""The training cache: the same bytes as decoding each image, skipped images reported, reuse by
key, and a build that streams to disk (bounded memory, nothing left behind when it fails)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests import builders
from tests.unit.test_files import disk_full_after
from workbench.errors import TrainingError
from workbench.ml.cache import CacheItem, build_cache, cache_key, decode

SIZE = 24


@pytest.fixture
def items(tmp_path: Path) -> list[CacheItem]:
    """300 images of several sizes and formats (three batches), a truncated JPEG and a missing file."""
    folder = tmp_path / "images"
    folder.mkdir()
    out = []
    for i in range(300):
        fmt = "JPEG" if i % 3 else "PNG"
        path = folder / f"{i}.{fmt.lower()}"
        path.write_bytes(builders.image_bytes(i, size=(16 + i % 50, 20 + i % 37), fmt=fmt))
        out.append(CacheItem(1000 + i, f"{i:064x}", str(path)))
    out.insert(7, CacheItem(7, "7" * 64, str(builders.truncated_jpeg(folder / "truncated.jpg"))))
    out.insert(200, CacheItem(200, "2" * 64, str(folder / "missing.png")))
    return out


@pytest.mark.parametrize("processes", [1, 2])
def test_the_cache_holds_each_image_as_decoded_and_reports_the_skipped(
    items: list[CacheItem], tmp_path: Path, processes: int
) -> None:
    cache = build_cache(items, SIZE, tmp_path / "cache", processes=processes)
    good = [item for item in items if item.image_id not in (7, 200)]
    expected = np.stack([decode(item.path, SIZE) for item in good])  # what the whole-array build wrote
    assert cache.path.read_bytes() == expected.tobytes()
    assert cache.ids.tolist() == [item.image_id for item in good]
    assert np.array_equal(cache.array, expected)
    assert [s["image_id"] for s in cache.skipped] == ["7", "200"]
    assert all(s["reason"].startswith("cannot decode: ") for s in cache.skipped)
    assert sorted(os.listdir(tmp_path / "cache")) == [f"{cache_key(items, SIZE)}.json", cache.path.name]


def test_a_finished_cache_is_found_again_without_decoding(items: list[CacheItem], tmp_path: Path) -> None:
    first = build_cache(items, SIZE, tmp_path / "cache", processes=1)
    for item in items:
        Path(item.path).unlink(missing_ok=True)  # nothing left to decode
    again = build_cache(items, SIZE, tmp_path / "cache", processes=1)
    assert (again.path, again.ids.tolist(), again.skipped) == (first.path, first.ids.tolist(), first.skipped)


@pytest.mark.parametrize("processes", [1, 2])
def test_a_build_stopped_halfway_leaves_no_cache_and_no_temporary_file(
    items: list[CacheItem], tmp_path: Path, processes: int
) -> None:
    def stop(done: int, total: int) -> None:
        if done > total // 2:
            raise KeyboardInterrupt  # a worker stopped mid-build

    with pytest.raises(KeyboardInterrupt):
        build_cache(items, SIZE, tmp_path / "cache", progress=stop, processes=processes)
    assert os.listdir(tmp_path / "cache") == []
    assert build_cache(items, SIZE, tmp_path / "cache", processes=processes).ids.size == 300


def test_a_full_disk_fails_before_decoding_with_a_reason_and_leaves_nothing(
    items: list[CacheItem], tmp_path: Path
) -> None:
    decoded: list[int] = []
    with (
        disk_full_after(100_000),
        pytest.raises(TrainingError, match=r"no space left on the data disk .*free some space") as caught,
    ):
        build_cache(items, 64, tmp_path / "cache", progress=lambda d, n: decoded.append(d), processes=1)
    assert "for the training cache" in str(caught.value)
    assert decoded == []  # the room is reserved first: no hour of decoding before the failure
    assert os.listdir(tmp_path / "cache") == []


BUILD_AND_MEASURE = """
import json, sys
from pathlib import Path
from workbench.ml.cache import CacheItem, build_cache

def kib(field):
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith(field))

image, folder = sys.argv[1], Path(sys.argv[2])
items = [CacheItem(i, f"{i:064x}", image) for i in range(8000)]
before = kib("VmRSS:")
cache = build_cache(items, 64, folder, processes=2)
print(json.dumps({"growth": (kib("VmHWM:") - before) * 1024, "size": cache.path.stat().st_size}))
"""


@pytest.mark.slow
def test_building_a_cache_holds_a_few_batches_in_memory_not_the_whole_array(tmp_path: Path) -> None:
    """8,000 images at 64 px make a 94 MiB cache; the whole-array build grew by twice that."""
    image = tmp_path / "one.jpg"
    image.write_bytes(builders.image_bytes(1, size=(90, 70), fmt="JPEG"))
    run = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(BUILD_AND_MEASURE), str(image), str(tmp_path / "cache")],
        capture_output=True, text=True, check=True, timeout=600,
    )  # fmt: skip
    measured = json.loads(run.stdout)
    assert measured["size"] == 8000 * 3 * 64 * 64
    assert measured["growth"] < measured["size"] / 4, measured
