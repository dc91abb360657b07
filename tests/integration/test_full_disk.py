"""A full data disk is an error like any other: on a real small filesystem (a tmpfs the test
mounts, as root), an ingest and a training that fill it fail with one line that says so, leave no
orphaned blob and no cut-short file, and the catalog on that disk still answers."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import builders, services
from tests.conftest import FAST_JOBS
from workbench.api import Workbench
from workbench.config import Settings

pytestmark = pytest.mark.slow
FULL = "no space left on the data disk ("


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 40 MB tmpfs, unmounted afterwards whatever happens."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root (CI runs as root)")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40m", "tmpfs", str(mount)], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.fixture
def bench(small_disk: Path) -> Iterator[Workbench]:
    settings = Settings(data_dir=small_disk / "data", user="tester", jobs=FAST_JOBS)
    with Workbench(settings) as workbench:
        yield workbench
    services.kill_local_worker(settings)


def photos(root: Path, n: int) -> Path:
    """``n`` distinct 64 px noise images (~12 KB each): more than the disk holds."""
    for i in range(n):
        folder = root / ("a" if i % 2 else "b")
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"{i}.png").write_bytes(builders.image_bytes(i, size=(64, 64)))
    return root


def files_under(folder: Path) -> list[Path]:
    return [path for path in folder.rglob("*") if path.is_file()] if folder.exists() else []


def test_an_ingest_that_fills_the_disk_fails_in_one_line_and_leaves_nothing(
    bench: Workbench, tmp_path: Path
) -> None:
    folder = photos(tmp_path / "photos", 4000)
    info = bench.ingest_job(folder, "big").wait(timeout=300)
    assert info.state == "failed" and (info.error or "").startswith(FULL), info
    assert "MB free" in (info.error or "") and "\n" not in (info.error or "")
    assert bench.datasets() == []
    assert files_under(bench.settings.data_dir / "blobs") == []  # no orphaned blob
    assert files_under(bench.settings.data_dir / "thumbs") == []
    small = bench.ingest(builders.image_folder(tmp_path / "small", {"x": 3, "y": 3}), "small")
    assert small.ingested == 6  # the room came back, and the catalog on that disk answers
    done = services.cli(bench.settings, "ingest", str(folder), "--name", "big")  # in the command's process
    assert done.returncode == 2 and done.stderr.startswith(f"workbench: error: {FULL}"), done.stderr
    assert done.stderr.count("\n") == 1
    assert [d.name for d in bench.datasets()] == ["small"]


def test_a_training_that_fills_the_disk_fails_in_one_line_and_resumes_from_no_broken_file(
    bench: Workbench, small_disk: Path, tmp_path: Path
) -> None:
    from workbench.demo import write_digits

    images, csv = write_digits(tmp_path / "digits")
    bench.ingest(images, "digits", labels_csv=csv, label_column="digit", split="0.8,0.1,0.1")
    job = bench.train("digits", name="big", epochs=2, image_size=16, hflip=False)
    info = job.wait(timeout=600)  # a checkpoint (the model and its optimizer, ~135 MB) cannot fit
    assert info.state == "failed" and (info.error or "").startswith(FULL), info
    assert "\n" not in (info.error or "")
    checkpoints = bench.settings.data_dir / "models" / job.id / "checkpoints"
    assert [p.name for p in files_under(checkpoints) if p.name.startswith(".")] == []  # no partial
    subprocess.run(["mount", "-o", "remount,size=600m", str(small_disk)], check=True)
    again = bench.train("digits", name="big", epochs=2, image_size=16, hflip=False).wait(timeout=600)
    assert again.state == "succeeded", again
