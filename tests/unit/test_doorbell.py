"""The local worker's doorbell: a ring wakes a waiting worker at once, and ringing never blocks
or fails a submit, whether anyone listens or not."""

from __future__ import annotations

import stat
from pathlib import Path

from workbench.jobs.doorbell import Doorbell, ring


def test_a_ring_wakes_the_waiting_worker_once(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path / "wake")
    try:
        assert ring(tmp_path / "wake") and ring(tmp_path / "wake")
        assert bell.wait(timeout=60)  # returns at once: a failure here would take the minute
        assert not bell.wait(timeout=0)  # both rings were taken by that one wake
    finally:
        bell.close()


def test_ringing_with_nobody_listening_does_nothing(tmp_path: Path) -> None:
    assert not ring(tmp_path / "wake")  # no worker ever made a doorbell here
    assert not (tmp_path / "wake").exists()
    Doorbell(tmp_path / "wake").close()  # a worker that has gone
    assert not ring(tmp_path / "wake")


def test_rings_nobody_reads_never_block_the_ringer(tmp_path: Path) -> None:
    bell = Doorbell(tmp_path / "wake")
    try:
        for _ in range(70_000):  # more bytes than a pipe holds (64 KiB)
            ring(tmp_path / "wake")
        assert bell.wait(timeout=60) and not bell.wait(timeout=0)
    finally:
        bell.close()


def test_a_stray_file_is_neither_written_nor_kept(tmp_path: Path) -> None:
    stray = tmp_path / "wake"
    stray.write_text("not a pipe")
    assert not ring(stray) and stray.read_text() == "not a pipe"
    bell = Doorbell(stray)  # the worker puts its FIFO there instead
    try:
        assert stat.S_ISFIFO(stray.stat().st_mode) and ring(stray) and bell.wait(timeout=60)
    finally:
        bell.close()
