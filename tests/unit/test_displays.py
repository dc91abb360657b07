"""What a notebook shows for our objects: figures as PNG, cards as escaped HTML, short reprs."""

from __future__ import annotations

import datetime as dt

from workbench.catalog.display import card, listing
from workbench.catalog.models import Model
from workbench.jobs.records import JobInfo, outcome
from workbench.ml.metrics import confusion_figure


def test_a_figure_shows_as_a_png_and_names_itself_in_one_line() -> None:
    figure = confusion_figure(
        {"confusion": [[3, 1], [0, 4]], "classes": ["cat", "dog"], "accuracy": 0.875, "n": 8}
    )
    assert figure._repr_png_()[:8] == b"\x89PNG\r\n\x1a\n"
    assert repr(figure) == "<Plot 'accuracy 87.5% on 8 images'>"


def test_a_card_escapes_what_it_shows() -> None:
    shown = card("dataset", "Dataset <b>", {"label": "<script>alert(1)</script>"})
    assert 'class="workbench-card workbench-dataset"' in shown
    assert "<script>" not in shown and "&lt;script&gt;" in shown and "Dataset &lt;b&gt;" in shown


def test_an_empty_listing_says_what_to_do() -> None:
    assert "bench.ingest" in listing(
        "datasets", [], "No datasets yet: bench.ingest(FOLDER, NAME) brings some in."
    )


def test_a_model_and_a_job_reading_show_no_datetimes_or_addresses() -> None:
    now = dt.datetime(2026, 12, 5, 9, 30, tzinfo=dt.UTC)
    model = Model(id=3, name="digits", arch="resnet18", classes=["0", "1"], image_size=32, published=False,
                  view={"dataset": "digits"}, train_image_ids=[1, 2], metrics={"accuracy": 0.9, "n": 10},
                  created_at=now)  # fmt: skip
    failed = JobInfo(id="ab" * 16, kind="train", state="failed", progress=0.4, message="epoch 2/8",
                     metrics={}, params={}, result=None, error="no space left on the data disk",
                     abort_requested=False, deliveries=1, worker=None, created_at=now, started_at=now,
                     finished_at=now)  # fmt: skip
    for text in (repr(model), model._repr_html_(), repr(failed), failed._repr_html_()):
        assert "datetime" not in text and "object at 0x" not in text
    assert "90.0% on 10 test images" in model._repr_html_() and "2026-12-05 09:30 UTC" in model._repr_html_()
    assert "no space left on the data disk" in repr(failed)  # a failed job says why, not its last progress


def test_a_finished_job_says_what_it_made_in_plain_numbers() -> None:
    result = {"model_id": 3, "accuracy": 0.8435754189944135, "images": 12345, "export_dir": "/data/m/3"}
    done = JobInfo(id="cd" * 16, kind="train", state="succeeded", progress=1.0, message="exporting",
                   metrics={}, params={}, result=result, error=None, abort_requested=False, deliveries=1,
                   worker=None, created_at=None, started_at=None, finished_at=None)  # fmt: skip
    assert outcome(done) == "done: model id 3, accuracy 84.4%, images 12,345"  # no path, no raw float
