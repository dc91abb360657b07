"""`workbench demo` on the embedded default, exactly as a person runs it: twice, from a fresh folder."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def _demo(cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    done = subprocess.run([sys.executable, "-m", "workbench.cli", "demo"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=600)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_demo_ingests_the_digits_and_a_second_run_adds_nothing(tmp_path: Path) -> None:
    first = _demo(tmp_path)
    assert "1,797 images ingested into 'digits'" in first
    assert "1,797 images, 10 labels" in first
    assert "splits: train 1,438, val 180, test 179" in first
    assert (tmp_path / ".workbench" / "catalog.sqlite").exists()
    assert (tmp_path / ".workbench" / "demo" / "digits" / "stats.png").read_bytes()[:4] == b"\x89PNG"

    second = _demo(tmp_path)
    assert "0 images ingested into 'digits', 1,797 duplicates skipped" in second
    assert "1,797 images, 10 labels" in second
