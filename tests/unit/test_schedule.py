"""Schedule files: what they say is checked before anything runs; beat gets plain JSON."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from celery.schedules import crontab

from workbench.config import Settings
from workbench.errors import ReportError
from workbench.schedule import ScheduleEntry, beat_schedule, load_schedule

GOOD = """
[[report]]
name = "published-models"
kind = "model"
published = true
cron = "0 7 * * *"
keep = 30

[[report]]
name = "digits-weekly"
kind = "dataset"
params = { dataset = "digits", filter = { split = "test" } }
every = 604800
user = "ada"
"""


def _load(tmp_path: Path, text: str) -> list[ScheduleEntry]:
    path = tmp_path / "reports.toml"
    path.write_text(text)
    return load_schedule(path, Settings(data_dir=tmp_path, user="tester"))


def test_a_schedule_file_becomes_beat_entries(tmp_path: Path) -> None:
    models, dataset = _load(tmp_path, GOOD)
    assert (models.kind, models.published, models.keep, models.user) == ("model", True, 30, "tester")
    assert dataset.params == {"dataset": "digits", "filter": {"split": "test"}}
    assert (dataset.every, dataset.user) == (604800.0, "ada")
    schedule = beat_schedule([models, dataset])
    assert schedule["published-models"]["task"] == "workbench.scheduled_reports"
    assert schedule["published-models"]["options"] == {"queue": "imagery"}
    cron = schedule["published-models"]["schedule"]
    assert isinstance(cron, crontab) and cron.hour == {7} and cron.minute == {0}
    assert schedule["digits-weekly"]["schedule"] == 604800.0
    message = schedule["digits-weekly"]["args"][0]
    assert ScheduleEntry.from_message(json.loads(json.dumps(message))) == dataset


HEAD = '[[report]]\nname = "a"\nkind = "model"\n'


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[[report]\n", "not valid TOML"),
        ("title = 'x'\n", "a list of \\[\\[report\\]\\] tables"),
        (HEAD + 'cron = "0 7 * * *"\ncolour = 1\n', "unknown keys \\['colour'\\]"),
        ('[[report]]\nname = "a"\nkind = "weather"\nevery = 1\n', "kind must be one of model, dataset"),
        (HEAD + '', "either cron"),
        (HEAD + 'every = 5\ncron = "* * * * *"\n', "either cron"),
        (HEAD + 'cron = "0 7 * *"\n', "five fields"),
        (HEAD + 'cron = "0 25 * * *"\n', "not valid"),
        (HEAD + 'every = -1\n', "above 0"),
        (HEAD + 'every = 9\nkeep = 0\n', "at least 1"),
        (HEAD.replace("model", "dataset") + "every = 9\npublished = true\n", "published = true is for model"),
        (HEAD + 'every = 9\nparams = { "x=1#" = 2 }\n', "its parameters: model_id"),
        (HEAD + 'every = 9\n[[report]]\nname = "a"\nkind = "model"\nevery = 9\n',
         "repeated: a"),
    ],
)  # fmt: skip
def test_a_bad_schedule_says_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ReportError, match=message):
        _load(tmp_path, text)


def test_a_missing_schedule_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(ReportError, match=r"cannot read the schedule .*nothing\.toml"):
        load_schedule(tmp_path / "nothing.toml", Settings(data_dir=tmp_path))


def test_the_compose_file_s_schedule_is_valid(tmp_path: Path) -> None:
    path = Path(__file__).parents[2] / "docker" / "reports.toml"
    entries = load_schedule(path, Settings(data_dir=tmp_path, user="workbench"))
    assert [(e.name, e.kind, e.published) for e in entries] == [
        ("published-models", "model", True),
        ("weekly-comparison", "comparison", False),
    ]
