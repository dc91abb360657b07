"""Executing one report notebook with papermill and rendering it as offline HTML.

A failing cell and a dead kernel are told apart: the first is the notebook's error (its message
is the cell's), the second is the machine's (killed, out of memory). Either way the partial
notebook is kept beside where the report would have been.

Neither file is ever cut short under its name: papermill writes the executed notebook to a
temporary file, renamed into place when the run ends (a partial one too, if it is whole JSON),
and the HTML is written the same way (``workbench.ml.files``). A full disk or a killed process
leaves at most a hidden temporary file.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path
from typing import Any

from workbench.errors import ReportError
from workbench.ml import files

CELL_TIMEOUT_SECONDS = 1800  # a cell running longer than half an hour is stuck, not slow
STOP_POLL_SECONDS = 0.5  # how often a running report asks whether it should stop
# nbconvert's lab template without what it fetches from CDNs (require.js, MathJax, Mermaid and
# the widget manager): a report must open offline, where none of those are reachable.
_OFFLINE_TEMPLATE = """{%- extends 'lab/index.html.j2' -%}
{%- block html_head_js -%}{%- endblock html_head_js -%}
{%- block jupyter_widgets -%}{%- endblock jupyter_widgets -%}
{%- block html_head_js_mathjax -%}{%- endblock html_head_js_mathjax -%}
{%- block html_head_js_mermaidjs -%}{%- endblock html_head_js_mermaidjs -%}
"""


class ReportStopped(ReportError):
    """The report was stopped on request (a job's abort) and its kernel killed."""


@dataclass(frozen=True)
class ReportFiles:
    notebook: Path
    html: Path


def execute_notebook(
    notebook: Path,
    params: dict[str, Any],
    out_dir: Path,
    *,
    env: dict[str, str],
    progress: Callable[[float, str], None],
    should_stop: Callable[[], bool] = lambda: False,
) -> ReportFiles:
    """Run ``notebook`` with ``params`` in a new kernel whose environment has ``env`` (the
    catalog's settings, so it reports on the same catalog), then write the HTML beside it.
    When ``should_stop()`` turns true the kernel is killed and ReportStopped raised."""
    out_dir.mkdir(parents=True, exist_ok=True)
    executed = out_dir / notebook.name
    partial = files.temporary_for(executed)  # what papermill writes after every cell
    kernels: list[Any] = []
    stopper = _Stopper(should_stop, kernels)
    try:
        with stopper:
            result = _papermill(notebook, partial, executed, params, _kernel_manager_with(env, kernels))
    except BaseException:
        _keep_if_whole(partial, executed)
        if stopper.stopped:  # whatever the killed kernel made papermill raise
            raise ReportStopped(f"stopped on request. The partial notebook: {executed}") from None
        raise
    files.commit(partial, executed)
    progress(0.9, "rendering HTML")
    html = executed.with_suffix(".html")
    page = to_html(result, title=heading_of(result) or notebook.stem.replace("_", " "))
    with _disk_full_is_said(html):
        files.write_text(html, page)
    return ReportFiles(executed, html)


def _keep_if_whole(partial: Path, executed: Path) -> None:
    """The partial notebook of a failed run under its name when papermill finished writing it;
    removed when cut short (a full disk) or unreadable."""
    import nbformat

    try:
        nbformat.read(partial, as_version=4)
    except FileNotFoundError:
        return
    except Exception:  # cut short or not a notebook: nobody can open it
        partial.unlink(missing_ok=True)
        return
    files.commit(partial, executed)


@contextmanager
def _disk_full_is_said(path: Path) -> Iterator[None]:
    """A full disk (or quota) while writing ``path`` becomes a ReportError that says so."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in files.DISK_FULL:
            raise
        raise ReportError(
            f"{files.no_space(path)} writing {path.name}: free some space and make the report again"
        ) from exc


def _papermill(
    notebook: Path, output: Path, executed: Path, params: dict[str, Any], kernel_manager: type
) -> Any:
    """papermill's run, written to ``output`` (to become ``executed``), its failures told apart in
    messages a person can act on."""
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    try:
        with _disk_full_is_said(executed):
            return papermill.execute_notebook(
                str(notebook),
                str(output),
                parameters=params,
                progress_bar=False,
                cwd=str(executed.parent),
                execution_timeout=CELL_TIMEOUT_SECONDS,
                kernel_manager_class=kernel_manager,
            )
    except papermill.PapermillExecutionError as exc:
        cell = f"[{exc.exec_count}]" if exc.exec_count else f"#{exc.cell_index}"
        raise ReportError(
            f"cell {cell} raised {exc.ename}: {exc.evalue}. The partial notebook: {executed}"
        ) from None
    except DeadKernelError:
        raise ReportError(
            f"the kernel died while running cell {_running_cell(output)} (killed, or out of "
            f"memory?): not an error in the notebook. The partial notebook: {executed}"
        ) from None
    except CellTimeoutError:
        raise ReportError(
            f"cell {_running_cell(output)} ran longer than {CELL_TIMEOUT_SECONDS} s and was stopped. "
            f"The partial notebook: {executed}"
        ) from None


def heading_of(notebook: Any) -> str | None:
    """The text of the first <h1> a cell printed (the report names its subject there): the page's
    title, so a browser tab or bookmark says which model or dataset it is about."""
    for cell in notebook.cells:
        for output in cell.get("outputs", []):
            found = re.search(r"<h1>(.*?)</h1>", "".join(output.get("data", {}).get("text/html", "")))
            if found:
                return unescape(found.group(1))
    return None


def to_html(notebook: Any, *, title: str) -> str:
    """Self-contained HTML without the code: figures embedded, CSS inline, nothing fetched."""
    from jinja2 import DictLoader
    from nbconvert import HTMLExporter

    exporter = HTMLExporter(
        template_name="lab",
        extra_loaders=[DictLoader({"workbench_report.html.j2": _OFFLINE_TEMPLATE})],
        template_file="workbench_report.html.j2",
        exclude_input=True,
        exclude_input_prompt=True,
        exclude_output_prompt=True,
        embed_images=True,
    )
    body, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": title}})
    return body


def _kernel_manager_with(env: dict[str, str], started: list[Any]) -> type:
    """A kernel manager class that starts its kernel with ``env`` over this process's environment
    and adds itself to ``started`` (nbclient makes the kernel manager itself; papermill offers no
    other way in)."""
    from jupyter_client.manager import AsyncKernelManager

    class ReportKernelManager(AsyncKernelManager):
        async def start_kernel(self, **kw: Any) -> None:  # type: ignore[override]  # async, as its base's
            kw["env"] = {**os.environ, **kw.get("env", {}), **env}
            # ipykernel warns on every start that local TCP is unencrypted: noise on each report
            # (decision #50); errors still reach the terminal.
            kw["extra_arguments"] = [*kw.get("extra_arguments", []), "--IPKernelApp.log_level=ERROR"]
            await super().start_kernel(**kw)
            started.append(self)

    return ReportKernelManager


class _Stopper:
    """Polls ``should_stop`` while a notebook runs and kills its kernel when it turns true: a cell
    cannot be stopped cooperatively, and an abort must not wait for a long cell to end."""

    def __init__(self, should_stop: Callable[[], bool], kernels: list[Any]) -> None:
        self.should_stop, self.kernels = should_stop, kernels
        self.stopped = False
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, name="report-stopper", daemon=True)

    def __enter__(self) -> _Stopper:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._done.set()
        self._thread.join()

    def _watch(self) -> None:
        while not self._done.wait(STOP_POLL_SECONDS):
            if self.should_stop():
                self.stopped = True
                for kernel in self.kernels:
                    process = getattr(kernel.provisioner, "process", None)
                    if process is not None:
                        process.kill()
                return


def _running_cell(output: Path) -> str:
    """The cell that was running when execution stopped: the last one papermill started."""
    import nbformat

    try:
        notebook = nbformat.read(output, as_version=4)
    except (OSError, ValueError):
        return "(unknown)"
    started = [
        (i, cell) for i, cell in enumerate(notebook.cells)
        if cell.get("metadata", {}).get("papermill", {}).get("start_time")
    ]  # fmt: skip
    if not started:
        return "(none had started: the kernel died at start-up)"
    index, cell = started[-1]
    first_line = cell.source.strip().splitlines()[0][:60] if cell.source.strip() else ""
    return f"#{index} ({first_line!r})"
