"""Reports for real: the report notebooks executed by papermill in real kernels against the demo's
digits and two briefly trained models, the HTML read back and opened in headless Chromium, the
report job on the embedded local worker, and the injection and failure cases.

Failure modes that the real notebooks cannot show on demand are planted: a second catalog whose
report notebooks folder (WORKBENCH_REPORT_NOTEBOOKS) holds tests/fixtures/notebooks' ``echo``
(prints its parameter) as the model report and ``sleeps_until_killed`` as the dataset report.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest

from tests import builders, services
from tests.conftest import FAST_JOBS as FAST
from workbench.api import Workbench
from workbench.config import Settings
from workbench.errors import ConfigError, ReportError
from workbench.registry import get_model, publish
from workbench.report_sections.model import most_confused
from workbench.reports import REPORTS, list_reports, report_html_path, run_report, submit_report

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks" / "reports"
FIXTURES = REPO / "tests" / "fixtures" / "notebooks"
# An embedded PNG. nbconvert re-serializes the page with sorted attributes (alt, class, src), so
# not literally '<img src="data:image/png;base64,'; figure outputs carry a class, thumbnails none.
PNG = re.compile(r'<img\b[^>]*\bsrc="data:image/png;base64,[A-Za-z0-9+/]{100}')
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run", "--disable-quic",
]  # fmt: skip


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Jupyter, IPython and matplotlib write under $HOME: here, for every kernel the module starts
    (the local worker started below inherits it too)."""
    root = tmp_path_factory.mktemp("home")
    with pytest.MonkeyPatch.context() as patch:
        for name, folder in [("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_DATA_DIR", "data"),
                             ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")]:  # fmt: skip
            patch.setenv(name, str(root / folder))
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        yield root


@pytest.fixture(scope="module")
def digits(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    root = tmp_path_factory.mktemp("digits")
    bench = builders.digits_workbench(root, FAST)
    yield bench
    bench.close()
    services.kill_local_worker(bench.settings)


@pytest.fixture(scope="module")
def models(digits: Workbench) -> tuple[int, int]:
    """Two short trainings (16 px): enough for curves, a confusion matrix and a comparison."""
    ids = []
    for name, epochs in (("digits-a", 2), ("digits-b", 1)):
        info = digits.train("digits", name=name, epochs=epochs, image_size=16, hflip=False).wait(timeout=900)
        assert info.state == "succeeded", info.error
        ids.append(info.result["model_id"])
    publish(digits.catalog, ids[1])
    return ids[0], ids[1]


@pytest.fixture(scope="module")
def model_report(digits: Workbench, models: tuple[int, int]) -> dict[str, Any]:
    return run_report(digits.catalog, "model", {"model_id": models[0]})


@pytest.fixture(scope="module")
def planted(home: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Workbench]:
    root = tmp_path_factory.mktemp("planted")
    shutil.copy(FIXTURES / "echo.ipynb", root / REPORTS["model"].notebook)
    shutil.copy(FIXTURES / "sleeps_until_killed.ipynb", root / REPORTS["dataset"].notebook)
    bench = Workbench(Settings(data_dir=root / "data", user="tester", jobs=FAST, report_notebooks=root))
    yield bench
    bench.close()
    services.kill_local_worker(bench.settings)


def _figures(html: str) -> int:
    return sum(1 for tag in PNG.findall(html) if " class=" in tag)


def _html(row: dict[str, Any]) -> str:
    return Path(row["html_path"]).read_text(encoding="utf-8")


def _assert_offline_and_codeless(html: str) -> None:
    assert not re.search(r"<script[^>]+src=[\"']?(https?:)?//", html), "a script comes from the network"
    assert not re.search(r"<link[^>]+href=[\"']?(https?:)?//", html), "a stylesheet comes from the network"
    assert "require.js" not in html and "MathJax" not in html
    assert "import workbench" not in html and "sections." not in html, "code cells leaked into the HTML"


def _outputs(notebook: Path) -> str:
    cells = nbformat.read(notebook, as_version=4).cells
    outputs = [o for cell in cells for o in cell.get("outputs", [])]
    return "".join(str(o.get(key, "")) for o in outputs for key in ("text", "data", "ename", "evalue"))


# -- the three reports on the demo data --------------------------------------------------------


def test_the_model_report_shows_figures_and_the_model_s_numbers(
    digits: Workbench, models: tuple[int, int], model_report: dict[str, Any]
) -> None:
    model = get_model(digits.catalog, models[0])
    html = _html(model_report)
    assert _figures(html) >= 2  # training curves and the confusion matrix
    assert f"{model.metrics['accuracy']:.1%}" in html and "digits-a" in html
    assert f"{len(model.train_image_ids):,} (fingerprint {model.train_ids_sha256[:12]})" in html  # lineage
    assert f"opset {model.metrics['export']['opset']}" in html  # the export's parity check
    for value in ("loop", "parity", "test images", "Misclassified test images"):
        assert value in html
    _assert_offline_and_codeless(html)
    assert model_report["params"] == {"model_id": models[0]} and model_report["job_id"] is None
    assert Path(model_report["notebook_path"]).is_file()
    assert list_reports(digits.catalog)[0]["id"] == model_report["id"]
    assert report_html_path(digits.catalog, model_report["id"]) == Path(model_report["html_path"])


def test_the_model_report_opens_with_its_name_and_a_verdict_in_plain_words(
    digits: Workbench, models: tuple[int, int], model_report: dict[str, Any]
) -> None:
    model = get_model(digits.catalog, models[0])
    html = _html(model_report)
    assert f"<title>Model report: {model.name}</title>" in html
    body = html[html.index("<body") :]
    title, verdict = body.index(f"<h1>Model report: {model.name}</h1>"), body.index("workbench-verdict")
    assert title < verdict < body.index("<h2>")  # the verdict before any section
    m = model.metrics
    assert f"{m['accuracy']:.1%} accurate on {m['n']:,} test images." in body
    if most_confused(m):
        true, predicted, count = most_confused(m) or ("", "", 0)
        assert f"It most often takes {true} for {predicted} ({count:,} times)." in body
    for internal in ("macro_f1", "macro F1", "papermill", "model_id", "sha256", "View("):
        assert internal not in body, internal


def test_the_dataset_report_of_a_filtered_view(digits: Workbench) -> None:
    row = run_report(digits.catalog, "dataset", {"dataset": "digits", "filter": {"split": "test"}})
    html = _html(row)
    assert _figures(html) >= 2  # balance and sizes
    assert len(PNG.findall(html)) >= 2 + 48  # and the sample's 48 PNG thumbnails
    test_images = digits.dataset("digits").filter(split="test").count()
    assert f"{test_images} images in 10 classes." in html and "test 179" in html
    for section in ("Class balance", "Size distribution", "Attribute breakdowns", "Look-alikes and leakage",
                    "groups across train and validation/test"):  # fmt: skip
        assert section in html
    _assert_offline_and_codeless(html)


def test_the_comparison_report_puts_models_side_by_side(digits: Workbench, models: tuple[int, int]) -> None:
    html = _html(run_report(digits.catalog, "comparison", {"model_ids": list(models)}))
    best = max((get_model(digits.catalog, m) for m in models), key=lambda m: m.metrics["accuracy"])
    assert f"Best: {best.name} (model {best.id}), {best.metrics['accuracy']:.1%} accurate." in html
    assert "trained on the very same images" in html or "trained on different images" in html
    for model_id in models:
        accuracy = get_model(digits.catalog, model_id).metrics["accuracy"]
        assert f"{accuracy:.1%}" in html and f"model {model_id} F1" in html
    assert _figures(html) >= 1
    _assert_offline_and_codeless(html)


@pytest.mark.parametrize("kind", [kind for kind in REPORTS if kind != "operations"])  # its own test
def test_each_report_runs_with_its_default_parameters(
    digits: Workbench, models: tuple[int, int], kind: str
) -> None:
    """What a person gets opening the notebook in JupyterLab and running it as it is."""
    html = _html(run_report(digits.catalog, kind))
    newest = get_model(digits.catalog, models[1])
    expected = {"model": f"Model report: {newest.name}", "dataset": ">digits</td>", "comparison": "digits-a"}
    assert expected[kind] in html


def test_the_operations_report_without_prometheus_is_refused_at_once(digits: Workbench) -> None:
    """Before a kernel starts: what to set, and where Prometheus' configuration is."""
    with pytest.raises(ConfigError, match="WORKBENCH_PROMETHEUS_URL"):
        digits.report("operations")


def test_the_papermill_command_runs_a_template_directly(
    digits: Workbench, models: tuple[int, int], tmp_path: Path
) -> None:
    out = tmp_path / "out.ipynb"
    env = {**os.environ, **digits.settings.environ()}
    papermill = Path(sys.executable).parent / "papermill"
    template = NOTEBOOKS / "model_report.ipynb"
    command = [str(papermill), str(template), str(out), "-p", "model_id", str(models[0])]
    done = subprocess.run(command, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    accuracy = get_model(digits.catalog, models[0]).metrics["accuracy"]
    assert f"{accuracy:.1%}" in _outputs(out) and "image/png" in _outputs(out)


def test_an_html_report_renders_in_headless_chromium(model_report: dict[str, Any], tmp_path: Path) -> None:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is not installed (apt-get install -y chromium)")
    from PIL import Image, ImageStat
    from playwright.sync_api import sync_playwright

    shot, fetched = tmp_path / "report.png", []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1100, "height": 900})

        def offline(route: Any) -> None:  # the report must need nothing from the network
            url = route.request.url
            if url.startswith(("file:", "data:")):
                route.continue_()
            else:
                fetched.append(url)
                route.abort()

        page.route("**/*", offline)
        page.goto(Path(model_report["html_path"]).as_uri())
        images = page.evaluate("Array.from(document.images).map(i => [i.naturalWidth, i.naturalHeight])")
        headings = page.locator("h2").all_inner_texts()
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert fetched == []
    assert len(images) >= 2 and all(w > 0 and h > 0 for w, h in images), images
    assert "What it confuses" in "".join(headings) and "What it was trained on" in "".join(headings)
    with Image.open(shot) as picture:
        assert picture.width == 1100 and picture.height > 1500  # the whole report, not one screen
        assert ImageStat.Stat(picture.convert("L")).stddev[0] > 20  # figures and text, not a blank page


# -- jobs, retention and the CLI --------------------------------------------------------------------


def test_a_report_job_on_the_local_worker_records_its_job(digits: Workbench, models: tuple[int, int]) -> None:
    job = submit_report(digits.catalog, "comparison", {"model_ids": [models[1]]})
    info = job.wait(timeout=300)
    assert info.state == "succeeded", info.error
    row = next(r for r in list_reports(digits.catalog) if r["id"] == info.result["report_id"])
    assert row["job_id"] == job.id and row["kind"] == "comparison" and Path(row["html_path"]).is_file()
    assert info.result["html_path"] == row["html_path"]


def test_old_reports_beyond_the_kept_count_are_deleted_with_their_files(planted: Workbench) -> None:
    made = [run_report(planted.catalog, "model", {"model_id": 7}, keep=2) for _ in range(3)]
    other = run_report(planted.catalog, "model", {"model_id": 8}, keep=2)
    kept = [r["id"] for r in list_reports(planted.catalog) if r["params"] == {"model_id": 7}]
    assert kept == [made[2]["id"], made[1]["id"]]
    assert not Path(made[0]["html_path"]).parent.exists() and Path(made[1]["html_path"]).is_file()
    assert any(r["id"] == other["id"] for r in list_reports(planted.catalog))  # other parameters: untouched


def test_the_cli_makes_copies_lists_and_runs_a_schedule_entry(
    digits: Workbench, models: tuple[int, int], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    done = services.cli(digits.settings, "report", "model", str(models[0]), "--out", str(out), "--json")
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stderr == ""  # no kernel or converter warning printed on every run
    row = json.loads(done.stdout)
    assert Path(row["copied_to"]).read_text() == Path(row["html_path"]).read_text()
    assert (out / "model_report.ipynb").is_file()
    listed = json.loads(services.cli(digits.settings, "reports", "--json").stdout)
    assert listed[0]["id"] == row["id"]
    in_words = services.cli(digits.settings, "reports").stdout.splitlines()[0]
    assert f"model {models[0]} " in in_words and "{" not in in_words  # what it is about, not JSON

    schedule = tmp_path / "reports.toml"
    entry = 'name = "published"\nkind = "model"\npublished = true\ncron = "0 7 * * *"'
    schedule.write_text("[[report]]\n" + entry)
    done = services.cli(digits.settings, "scheduler", "--schedule", str(schedule), "--run", "published")
    assert done.returncode == 0, done.stderr[-3000:]
    assert re.match(r"published: model report \d+: .*model_report\.html$", done.stdout.strip()), done.stdout
    assert list_reports(digits.catalog)[0]["params"] == {"model_id": models[1]}  # the published one
    done = services.cli(digits.settings, "scheduler", "--schedule", str(schedule))
    assert done.returncode == 2 and "needs a broker" in done.stderr and "--run NAME" in done.stderr


# -- injection ---------------------------------------------------------------------------------------


def test_a_crafted_parameter_name_runs_nothing_and_lists_the_valid_names(
    digits: Workbench, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    name = f"x = 1\nimport pathlib; pathlib.Path({str(marker)!r}).touch()\n#"
    with pytest.raises(ReportError, match=r"its parameters: model_id$"):
        run_report(digits.catalog, "model", {name: 1})
    jobs_before = len(digits.jobs())
    with pytest.raises(ReportError, match=r"its parameters: model_id$"):
        submit_report(digits.catalog, "model", {name: 1})
    assert len(digits.jobs()) == jobs_before  # refused before anything was queued
    # A job written around the client (the jobs table is the worker's input) is refused there too.
    with pytest.raises(ReportError, match=r"its parameters: model_id$"):
        digits.submit("report", {"report": "model", "params": {name: 1}})
    job = services.queue_around_the_client(digits, "report", {"report": "model", "params": {name: 1}})
    info = job.wait(timeout=120)
    assert info.state == "failed" and "its parameters: model_id" in (info.error or ""), info
    assert not marker.exists()


def test_strings_with_quotes_newlines_and_code_arrive_as_those_strings(
    planted: Workbench, tmp_path: Path
) -> None:
    marker = tmp_path / "PWNED"
    touch = f"import pathlib; pathlib.Path({str(marker)!r}).touch()"
    hostile = [f'"; {touch} #', f"'; {touch} #", f'"""\n{touch}\n"""', f"'''\n{touch}\n'''",
               f"\\\"; {touch} #", "line one\nline two\r\nthree\ttab", "nul\x00 é ☃ 🦜",
               "{model_id}"]  # fmt: skip
    value = {"strings": hostile, hostile[0]: {hostile[2]: [1, 2.5, None, True]}}
    row = run_report(planted.catalog, "model", {"model_id": value})
    lines = _outputs(Path(row["notebook_path"])).splitlines()
    echoed = next(line for line in lines if line.startswith("ECHO "))
    assert json.loads(echoed.removeprefix("ECHO ")) == value
    assert not marker.exists()
    kernel_workbench = next(line for line in lines if line.startswith("WORKBENCH "))
    assert kernel_workbench == f"WORKBENCH {REPO / 'workbench' / '__init__.py'}"  # this checkout's package


# -- failures ----------------------------------------------------------------------------------------


def test_a_failing_cell_fails_the_job_with_its_error_and_keeps_the_partial_notebook(
    digits: Workbench,
) -> None:
    reports_before = len(list_reports(digits.catalog))
    job = submit_report(digits.catalog, "dataset", {"dataset": "digits", "filter": {"colour": "red"}})
    info = job.wait(timeout=300)
    assert info.state == "failed"
    error = info.error or ""
    assert "raised FilterError" in error and "colour" in error and "kernel died" not in error, error
    partial = Path(error.rsplit("The partial notebook: ", 1)[1])
    assert partial.is_file() and "FilterError" in _outputs(partial)
    assert len(list_reports(digits.catalog)) == reports_before  # no report recorded


def test_a_killed_kernel_is_told_apart_from_an_error_in_the_notebook(
    planted: Workbench, tmp_path: Path
) -> None:
    pid_file = tmp_path / "kernel.pid"
    job = submit_report(planted.catalog, "dataset", {"pid_file": str(pid_file)})
    services.until(lambda: pid_file.exists() and pid_file.read_text(), 180, "the kernel to write its pid")
    os.kill(int(pid_file.read_text()), signal.SIGKILL)  # what the out-of-memory killer does
    info = job.wait(timeout=120)
    assert info.state == "failed"
    error = info.error or ""
    assert "the kernel died while running cell #4" in error and "Sleep until killed" in error, error
    assert "not an error in the notebook" in error and "raised" not in error
    outputs = _outputs(Path(error.rsplit("The partial notebook: ", 1)[1]))
    assert "waiting" in outputs and "never reached" not in outputs


def test_aborting_a_report_job_kills_its_kernel_and_ends_it_aborted(
    planted: Workbench, tmp_path: Path
) -> None:
    pid_file = tmp_path / "kernel.pid"
    job = submit_report(planted.catalog, "dataset", {"pid_file": str(pid_file)})
    services.until(lambda: pid_file.exists() and pid_file.read_text(), 180, "the kernel to write its pid")
    kernel = Path(f"/proc/{pid_file.read_text()}/status")
    job.abort()  # the cell sleeps for ten minutes: only killing the kernel stops it
    info = job.wait(timeout=120)
    assert info.state == "aborted" and "stopped on request" in info.message, info
    services.until(lambda: not kernel.exists() or "zombie" in kernel.read_text(), 30, "the kernel to be gone")
    assert not any(r["job_id"] == job.id for r in list_reports(planted.catalog))
