"""A report's files are whole or absent: a full disk while papermill writes the executed notebook,
or while the HTML is written, leaves no cut-short file under either name and no temporary one.
A real kernel runs tests/fixtures/notebooks' ``echo``."""

from __future__ import annotations

import os
import resource
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from workbench import report_run
from workbench.errors import ReportError
from workbench.report_run import execute_notebook

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
ECHO = REPO / "tests" / "fixtures" / "notebooks" / "echo.ipynb"


@pytest.fixture(autouse=True)
def jupyter_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "home").mkdir()
    for name in ("JUPYTER_RUNTIME_DIR", "JUPYTER_DATA_DIR", "IPYTHONDIR"):
        monkeypatch.setenv(name, str(tmp_path / "home" / name.lower()))


@pytest.fixture
def file_size_limit() -> Iterator[None]:
    """Whatever a test lowers RLIMIT_FSIZE to (a full disk: writes past it fail with EFBIG) is
    put back afterwards."""
    limits = resource.getrlimit(resource.RLIMIT_FSIZE)
    yield
    resource.setrlimit(resource.RLIMIT_FSIZE, limits)


def run_echo(out_dir: Path) -> report_run.ReportFiles:
    return execute_notebook(
        ECHO, {"model_id": 3}, out_dir, env={"PYTHONPATH": str(REPO)}, progress=lambda *a: None
    )


def test_a_report_leaves_its_notebook_and_html_and_nothing_else(tmp_path: Path) -> None:
    files = run_echo(tmp_path / "report")
    assert sorted(os.listdir(tmp_path / "report")) == ["echo.html", "echo.ipynb"]
    assert "ECHO 3" in str(nbformat.read(files.notebook, as_version=4).cells[-1].outputs)


def test_a_full_disk_while_writing_the_html_leaves_no_cut_short_page(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, file_size_limit: None
) -> None:
    to_html = report_run.to_html

    def then_the_disk_fills(notebook: Any, *, title: str) -> str:
        page = to_html(notebook, title=title)
        hard = resource.getrlimit(resource.RLIMIT_FSIZE)[1]
        resource.setrlimit(resource.RLIMIT_FSIZE, (len(page) // 2, hard))  # room for half the page
        return page

    monkeypatch.setattr(report_run, "to_html", then_the_disk_fills)
    with pytest.raises(
        ReportError, match=r"no space left on the data disk .* writing echo\.html: free some space"
    ):
        run_echo(tmp_path / "report")
    assert os.listdir(tmp_path / "report") == ["echo.ipynb"]
    nbformat.read(tmp_path / "report" / "echo.ipynb", as_version=4)  # whole


def test_a_full_disk_while_papermill_writes_the_notebook_leaves_no_cut_short_notebook(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from papermill.iorw import LocalHandler

    write = LocalHandler.write
    writes: list[str] = []

    def disk_full_from_the_third_write(self: LocalHandler, buf: str, path: str) -> None:
        writes.append(path)
        if len(writes) < 3:
            return write(self, buf, path)
        Path(path).write_text(buf[: len(buf) // 2])  # what fitted
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(LocalHandler, "write", disk_full_from_the_third_write)
    with pytest.raises(
        ReportError, match=r"no space left on the data disk .* writing echo\.ipynb: free some space"
    ):
        run_echo(tmp_path / "report")
    assert len(writes) >= 3 and Path(writes[0]).name != "echo.ipynb"  # papermill writes elsewhere
    assert os.listdir(tmp_path / "report") == []
