"""Files written whole or not at all: an interrupted write, a full disk (the file size limit of
``RLIMIT_FSIZE``, which fails a write as a full disk does) and a reader racing a writer."""

from __future__ import annotations

import os
import resource
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from workbench.ml import files


@contextmanager
def disk_full_after(nbytes: int) -> Iterator[None]:
    """Writes past ``nbytes`` in any file fail with EFBIG (Python ignores SIGXFSZ), as on a full disk."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (nbytes, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))


def test_a_write_puts_the_whole_file_in_place_and_nothing_else(tmp_path: Path) -> None:
    target = tmp_path / "labels.json"
    files.write_text(target, '["cat", "dog"]')
    files.write_bytes(target, b'["cat", "dog", "emu"]')
    assert target.read_bytes() == b'["cat", "dog", "emu"]'
    assert os.listdir(tmp_path) == ["labels.json"]


def test_a_write_interrupted_by_an_exception_leaves_no_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "model.onnx"
    with pytest.raises(RuntimeError, match="killed halfway"), files.atomic_path(target) as partial:
        partial.write_bytes(b"half a model")
        raise RuntimeError("killed halfway")
    assert os.listdir(tmp_path) == []


def test_an_interrupted_write_leaves_the_previous_file_as_it_was(tmp_path: Path) -> None:
    target = tmp_path / "model.ckpt"
    files.write_bytes(target, b"epoch 1" * 1000)
    with pytest.raises(KeyboardInterrupt), files.atomic_path(target) as partial:
        partial.write_bytes(b"epoch 2")
        raise KeyboardInterrupt
    assert target.read_bytes() == b"epoch 1" * 1000
    assert os.listdir(tmp_path) == ["model.ckpt"]


def test_a_full_disk_mid_write_leaves_the_previous_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "report.html"
    files.write_bytes(target, b"old report")
    with disk_full_after(64 * 1024), pytest.raises(OSError, match="too large"):
        files.write_bytes(target, b"x" * (1024 * 1024))
    assert target.read_bytes() == b"old report"
    assert os.listdir(tmp_path) == ["report.html"]


def test_the_previous_file_is_kept_beside_when_asked(tmp_path: Path) -> None:
    target, previous = tmp_path / "last.ckpt", tmp_path / "last.prev.ckpt"
    for epoch in (1, 2, 3):
        with files.atomic_path(target, previous=previous) as partial:
            partial.write_text(f"epoch {epoch}")
    assert (target.read_text(), previous.read_text()) == ("epoch 3", "epoch 2")
    assert sorted(os.listdir(tmp_path)) == ["last.ckpt", "last.prev.ckpt"]


def test_a_concurrent_reader_never_sees_a_partial_file(tmp_path: Path) -> None:
    """Whole versions are 4 MiB of one repeated byte: anything shorter or mixed was caught mid-write."""
    target, size, versions = tmp_path / "cache.u8", 4 * 1024 * 1024, 40
    files.write_bytes(target, bytes([0]) * size)
    done = threading.Event()

    def write() -> None:
        for version in range(1, versions + 1):
            with files.atomic_path(target) as partial, partial.open("wb") as out:
                for _ in range(16):  # in pieces, as real writers do, so a reader could land between them
                    out.write(bytes([version]) * (size // 16))
        done.set()

    writer = threading.Thread(target=write)
    writer.start()
    seen, reads = set(), 0
    while not done.is_set() or reads == 0:
        data = target.read_bytes()
        assert len(data) == size and data.count(data[:1]) == size, f"a partial file after {reads} reads"
        seen.add(data[0])
        reads += 1
    writer.join()
    assert target.read_bytes()[:1] == bytes([versions]) and len(seen) >= 2


def test_leftovers_of_killed_writes_are_removed_but_not_a_live_writers(tmp_path: Path) -> None:
    target = tmp_path / "best.ckpt"
    target.write_bytes(b"whole")
    stale, live = files.temporary_for(target), files.temporary_for(target)
    stale.write_bytes(b"cut short")
    live.write_bytes(b"being written")
    hour_ago = time.time() - 3600
    os.utime(stale, (hour_ago, hour_ago))
    assert files.remove_temporaries(tmp_path, older_than=600) == [stale]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["best.ckpt", live.name])
    assert files.remove_temporaries(tmp_path) == [live]
    assert [p.name for p in tmp_path.iterdir()] == ["best.ckpt"]


def test_a_temporary_name_is_hidden_keeps_the_suffix_and_is_unique(tmp_path: Path) -> None:
    names = {files.temporary_for(tmp_path / "report.ipynb").name for _ in range(100)}
    assert len(names) == 100
    assert all(n.startswith(".report.ipynb.") and n.endswith(".ipynb") for n in names)
    assert all(files.is_temporary(Path(n)) for n in names) and not files.is_temporary(Path("report.ipynb"))
