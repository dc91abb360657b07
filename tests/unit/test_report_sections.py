"""The model report's words: a verdict a manager reads in a minute, and no section without content."""

from __future__ import annotations

from typing import Any

from workbench.catalog.models import Model
from workbench.report_sections import model as sections


def _model(metrics: dict[str, Any]) -> Model:
    view = {"dataset": "digits", "filter": {}}
    return Model(id=7, name="digits", arch="resnet18", classes=["one", "seven", "two"], image_size=32,
                 view=view, train_image_ids=[1, 2, 3], metrics=metrics)  # fmt: skip


def _evaluated(n: int) -> dict[str, Any]:
    return {
        "accuracy": 46 / 54, "n": n, "classes": ["one", "seven", "two"],
        "confusion": [[15, 3, 0], [1, 17, 0], [2, 2, 14]],  # rows: true labels
        "per_class": {"one": {"recall": 15 / 18}, "seven": {"recall": 17 / 18}, "two": {"recall": 14 / 18}},
    }  # fmt: skip


def test_the_verdict_says_how_good_what_it_confuses_and_how_far_to_trust_it() -> None:
    said = sections.verdict(_model(_evaluated(54))).data
    assert "85.2% accurate on 54 test images." in said
    assert "It most often takes one for seven (3 times)." in said
    assert "Weakest class: two (77.8% of its images recognised)." in said
    assert "Only 54 test images: treat these numbers with care." in said


def test_a_large_test_set_is_not_called_small() -> None:
    assert "treat these numbers with care" not in sections.verdict(_model(_evaluated(540))).data


def test_a_model_without_results_gets_no_empty_sections() -> None:
    model = _model({})
    assert "no test results yet" in sections.verdict(model).data
    for section in (sections.curves, sections.confusion, sections.per_class, sections.by_attribute):
        assert section(model) is None, section.__name__  # the notebook then shows nothing at all


def test_the_title_names_the_model_and_its_data() -> None:
    heading = sections.heading(_model({})).data
    assert "<h1>Model report: digits</h1>" in heading and "model 7, trained on digits" in heading


def test_the_headline_speaks_in_plain_words_and_percentages() -> None:
    metrics = {**_evaluated(54), "macro_f1": 0.8123, "train_seconds": 300.0}
    table = sections.headline(_model(metrics)).data
    assert "macro_f1" not in table and "81.2%" in table and "5 minutes" in table
