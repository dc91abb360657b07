"""notebooks/tour.ipynb executed end to end by papermill, in a fresh kernel, as a person runs it."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests import services
from tests.e2e.browser import jupyter_env
from workbench.config import Settings

TOUR = Path(__file__).resolve().parents[2] / "notebooks" / "tour.ipynb"


@pytest.mark.slow
def test_the_tour_runs_end_to_end(tmp_path: Path) -> None:
    import papermill

    settings = Settings(data_dir=tmp_path / ".workbench", database_url="", user="tester")
    env = jupyter_env(tmp_path / "home", settings)
    out = tmp_path / "tour.ipynb"
    try:
        with pytest.MonkeyPatch.context() as patch:
            for key, value in env.items():
                patch.setenv(key, value)
            papermill.execute_notebook(
                str(TOUR), str(out), parameters={"epochs": 3}, cwd=str(tmp_path), kernel_name="python3"
            )
    finally:
        services.kill_local_worker(settings)
    text = out.read_text()
    assert "1,797 images ingested into 'digits'" in text
    assert "test accuracy" in text and "model.onnx" in text and "image/png" in text
    assert '"ename"' not in text  # no cell raised
