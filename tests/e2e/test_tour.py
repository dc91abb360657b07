"""notebooks/tour.ipynb executed end to end by papermill, in a fresh kernel, as a person runs it,
then converted to HTML as a person shares it: every figure an image, every object a rich display."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests import services
from tests.e2e.browser import jupyter_env
from workbench.config import Settings

TOUR = Path(__file__).resolve().parents[2] / "notebooks" / "tour.ipynb"
# The whole tour with a short training: minutes on a busy two-CPU machine, more than one test's default.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(1800)]


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tour run once by papermill; the module's tests read what it left."""
    import papermill

    tmp_path = tmp_path_factory.mktemp("tour")
    settings = Settings(data_dir=tmp_path / ".workbench", database_url="", user="tester")
    env = jupyter_env(tmp_path / "home", settings)
    out = tmp_path / "tour.ipynb"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            papermill.execute_notebook(
                str(TOUR),
                str(out),
                parameters={"epochs": 1, "image_size": 16},
                cwd=str(tmp_path),
                kernel_name="python3",
            )
    finally:
        services.kill_local_worker(settings)
    return out


def test_the_tour_runs_end_to_end(executed: Path) -> None:
    text = executed.read_text()
    assert "1,797 images ingested into 'digits'" in text
    assert "test accuracy" in text and "model.onnx" in text and "image/png" in text
    assert '"ename"' not in text  # no cell raised
    assert "blob_path" not in json.dumps(json.loads(text)["cells"])  # the tour uses public APIs only


def test_the_tours_html_shows_figures_as_images_and_objects_as_html(executed: Path) -> None:
    from nbconvert import HTMLExporter

    page, _ = HTMLExporter().from_filename(str(executed))
    # The stats plot, the augment preview and the confusion matrix, at least.
    assert len(re.findall(r'<img[^>]+src="data:image/png;base64,', page)) >= 3
    for kind in ("datasets", "view", "model", "job", "report"):
        assert f'class="workbench-card workbench-{kind}"' in page, kind
    for programmers_text in ("<Figure", "&lt;Figure", "object at 0x", "datetime.datetime("):
        assert programmers_text not in page, programmers_text


def test_the_executed_tour_keeps_its_widgets(executed: Path) -> None:
    notebook = json.loads(executed.read_text())
    state = notebook["metadata"]["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    shown = {
        output["data"]["application/vnd.jupyter.widget-view+json"]["model_id"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "application/vnd.jupyter.widget-view+json" in output.get("data", {})
    }
    assert shown and shown <= set(state)  # every widget shown has its state saved
    values = [str(widget["state"].get("value", "")) for widget in state.values()]
    # The training's widget was saved as it ended, not as it was when shown (queued, 0%).
    assert any("<b>train</b>" in v and "workbench-job-state'>succeeded</span> 100%" in v for v in values)
    assert any(v.startswith("<span") and "done: model id" in v for v in values)
    job_outputs = [
        output["data"]
        for cell in notebook["cells"]
        for output in cell.get("outputs", [])
        if "workbench-job" in "".join(output.get("data", {}).get("text/html", ""))
    ]
    assert job_outputs  # a static fallback beside the live widget, for viewers without widgets
