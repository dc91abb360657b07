"""Reports benchmark: how long a report takes and how much of it is starting the kernel.

Run from the repository root (no services needed; the embedded default in a temporary folder)::

    PYTHONPATH=. python benchmarks/bench_reports.py           # 5 runs of each
    PYTHONPATH=. python benchmarks/bench_reports.py --quick   # 2 runs of each

It ingests the digits and trains one short model (16 px, 1 epoch) on the local worker, then
measures (one JSON line each, as bench_catalog; medians):
- the baseline: papermill executing an empty parametrized notebook (a parameters cell and one
  ``pass``) with a parameter injected: a kernel's start and shutdown, nothing else;
- each report (model, dataset of the test split and of all digits, comparison) made by
  ``run_report`` in this process: wall time against the baseline (ratio: value / baseline), and
  ``kernel_share``, the baseline's part of the wall time;
- nbconvert's HTML rendering of the executed model report alone;
- the model report as a job on the embedded local worker, submit to succeeded.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import nbformat

from benchmarks.bench_catalog import emit
from workbench.api import Workbench
from workbench.config import Settings
from workbench.demo import write_digits
from workbench.report_run import to_html
from workbench.reports import run_report, submit_report


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def empty_notebook(folder: Path) -> Path:
    parameters = nbformat.v4.new_code_cell("value = None")
    parameters.metadata["tags"] = ["parameters"]
    notebook = nbformat.v4.new_notebook(cells=[parameters, nbformat.v4.new_code_cell("pass")])
    notebook.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    path = folder / "empty.ipynb"
    nbformat.write(notebook, path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 runs of each instead of 5")
    args = parser.parse_args()
    repeat = 2 if args.quick else 5
    with tempfile.TemporaryDirectory(prefix="bench_reports_") as tmp:
        root = Path(tmp)
        for name in ("JUPYTER_RUNTIME_DIR", "IPYTHONDIR", "MPLCONFIGDIR"):  # caches out of $HOME
            os.environ[name] = str(root / name.lower())
        bench = Workbench(Settings(data_dir=root / "data", user="bench"))
        images, csv = write_digits(root / "digits")
        bench.ingest(images, "digits", labels_csv=csv, label_column="digit", split="0.8,0.1,0.1", seed=0)
        info = bench.train("digits", name="bench", epochs=1, image_size=16, hflip=False).wait(timeout=1800)
        assert info.state == "succeeded", info.error
        model_id = info.result["model_id"]
        catalog = bench.catalog

        import papermill

        empty = empty_notebook(root)
        kernel = median_seconds(
            lambda: papermill.execute_notebook(
                str(empty), str(root / "empty-out.ipynb"), parameters={"value": 1}, progress_bar=False
            ),
            repeat,
        )
        emit("kernel start: papermill on an empty parametrized notebook", kernel, "s", n=repeat)
        cases = {
            "model report (digits model)": ("model", {"model_id": model_id}),
            "dataset report (digits test split, 179 images)": (
                "dataset", {"dataset": "digits", "filter": {"split": "test"}},
            ),
            "dataset report (all 1,797 digits)": ("dataset", {"dataset": "digits"}),
            "comparison report (one model)": ("comparison", {"model_ids": [model_id]}),
        }  # fmt: skip
        for figure, (kind, params) in cases.items():
            wall = median_seconds(lambda kind=kind, params=params: run_report(catalog, kind, params), repeat)
            emit(f"{figure}: wall time, in process", wall, "s", baseline=kernel, ratio=wall / kernel,
                 target="reported", kernel_share=round(kernel / wall, 3), n=repeat)  # fmt: skip
        executed = nbformat.read(run_report(catalog, "model", {"model_id": model_id})["notebook_path"], 4)
        html = median_seconds(lambda: to_html(executed, title="model report"), repeat)
        emit("HTML rendering of the model report (nbconvert, offline template)", html, "s", n=repeat)
        job = median_seconds(
            lambda: submit_report(catalog, "model", {"model_id": model_id}).wait(timeout=600), repeat
        )
        emit("model report as a job on the local worker, submit to succeeded", job, "s", n=repeat)
        bench.close()
        from workbench.jobs.local import local_worker_pid

        pid = local_worker_pid(bench.settings)
        if pid is not None:
            os.kill(pid, 15)  # the worker this run started; it would leave by itself after 30 min


if __name__ == "__main__":
    main()
