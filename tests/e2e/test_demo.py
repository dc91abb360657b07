"""`workbench demo` on the embedded default, exactly as a person runs it: twice, from a fresh folder."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from workbench.config import Settings
from workbench.jobs.local import local_worker_pid


def _demo(cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "demo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def folder(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path
    pid = local_worker_pid(Settings(data_dir=tmp_path / ".workbench"))  # the demo trained on it
    if pid is not None:
        os.kill(pid, signal.SIGTERM)


@pytest.mark.slow
def test_demo_ingests_trains_exports_and_a_second_run_adds_nothing(folder: Path) -> None:
    tmp_path = folder
    first = _demo(tmp_path)
    assert "1,797 images ingested into 'digits'" in first
    assert "1,797 images, 10 labels" in first
    assert "splits: train 1,438, val 180, test 179" in first
    assert (tmp_path / ".workbench" / "catalog.sqlite").exists()
    assert (tmp_path / ".workbench" / "demo" / "digits" / "stats.png").read_bytes()[:4] == b"\x89PNG"
    accuracy = re.search(r"test accuracy (\d+\.\d)% on 179 images", first)
    assert accuracy and float(accuracy.group(1)) >= 95, first
    onnx = re.search(r"ONNX Runtime on the 179 test digits: (\d+\.\d)% correct", first)
    assert onnx and abs(float(onnx.group(1)) - float(accuracy.group(1))) <= 1.0, first
    assert "ONNX export: " in first
    report = re.search(r"model report: (\S+\.html)", first)
    assert report and "Model report: digits-demo" in Path(report.group(1)).read_text(), first
    assert "`workbench dashboard` and open http://127.0.0.1:8866/?dataset=digits" in first

    second = _demo(tmp_path)
    assert "0 images ingested into 'digits', 1,797 duplicates skipped" in second
    assert "1,797 images, 10 labels" in second
    assert "was trained by an earlier run" in second
