"""The real ``workbench`` command, run as a subprocess on SQLite and on the real Postgres.

Good input: exit 0, and with ``--json`` nothing but JSON on stdout. Bad input: exit 2 and exactly
one line on stderr, never a traceback.
"""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests import builders
from workbench.api import Workbench
from workbench.catalog import db

REPO = Path(__file__).parents[2]
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**env, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), env.get("PYTHONPATH")]))}
    command = [sys.executable, "-m", "workbench.cli", *args]
    return subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def _json(result: subprocess.CompletedProcess[str]) -> Any:
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _refused(result: subprocess.CompletedProcess[str]) -> str:
    """The one error line of a refused command, after checking it is one line and no traceback."""
    assert result.returncode == 2, (result.returncode, result.stderr)
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and result.stderr.endswith("\n"), result.stderr
    assert lines[0].startswith("workbench: error: ")
    assert result.stdout == ""
    return lines[0]


def _pets(root: Path) -> Path:
    return builders.image_folder(root, {"cat": 3, "dog": 2})


def _sha256s(folder: Path, label: str) -> list[str]:
    return sorted(hashlib.sha256(p.read_bytes()).hexdigest() for p in (folder / label).iterdir())


# -- good input --------------------------------------------------------------------------------


def test_ingest_json_reports_what_was_taken_and_what_was_skipped(
    env_for: dict[str, str], tmp_path: Path
) -> None:
    folder = _pets(tmp_path / "pets")
    (folder / "cat" / "notes.txt").write_text("not an image")
    (folder / "loose.png").write_bytes(builders.image_bytes(99))
    report = _json(_run(env_for, tmp_path, "ingest", str(folder), "--name", "pets", "--json"))
    assert {"dataset", "ingested", "duplicates", "skipped"} <= report.keys()
    assert (report["dataset"], report["ingested"], report["duplicates"]) == ("pets", 5, 0)
    assert sorted(s["file"] for s in report["skipped"]) == ["cat/notes.txt", "loose.png"]
    assert all(set(s) == {"file", "reason"} and s["reason"] for s in report["skipped"])


def test_ingest_with_a_csv_and_a_split(env_for: dict[str, str], tmp_path: Path) -> None:
    images, styles = builders.fashion_catalogue(tmp_path / "fashion", n=12)
    report = _json(
        _run(
            env_for,
            tmp_path,
            "ingest",
            str(images),
            "--name",
            "fashion",
            "--labels-csv",
            str(styles),
            "--label-column",
            "articleType",
            "--split",
            "0.5,0.5",
            "--json",
        )
    )
    assert report["ingested"] == 12 and report["csv_issues"] == []
    assert report["labels"] == {"Tshirts": 4, "Shirts": 4, "Jeans": 4}
    assert report["splits"] == {"train": 6, "val": 6}


def test_datasets_json_lists_the_users_datasets(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    workbench.ingest(builders.image_folder(tmp_path / "owls", {"owl": 1}, start=50), "owls")
    listed = _json(_run(env_for, tmp_path, "datasets", "--json"))
    assert [(d["name"], d["images"], d["labels"], d["kind"]) for d in listed] == [
        ("owls", 1, 1, "source"),
        ("pets", 5, 2, "source"),
    ]


def test_show_json_counts_and_labels(workbench: Workbench, env_for: dict[str, str], tmp_path: Path) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    shown = _json(_run(env_for, tmp_path, "show", "pets", "--json", "--limit", "2"))
    assert (shown["count"], shown["labels"]) == (5, {"cat": 3, "dog": 2})
    assert [image["original_name"] for image in shown["images"]] == ["cat/0.png", "cat/1.png"]
    assert "sha256" not in shown


def test_show_filter_narrows(workbench: Workbench, env_for: dict[str, str], tmp_path: Path) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    shown = _json(_run(env_for, tmp_path, "show", "pets", "--filter", '{"label": ["dog"]}', "--json"))
    assert (shown["filter"], shown["count"], shown["labels"]) == ({"label": ["dog"]}, 2, {"dog": 2})
    assert {image["label"] for image in shown["images"]} == {"dog"}


def test_show_hashes_lists_every_image_of_the_view(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    folder = _pets(tmp_path / "pets")
    workbench.ingest(folder, "pets")
    shown = _json(
        _run(
            env_for,
            tmp_path,
            "show",
            "pets",
            "--filter",
            '{"label": "cat"}',
            "--json",
            "--hashes",
            "--limit",
            "1",
        )
    )
    assert sorted(shown["sha256"]) == _sha256s(folder, "cat")
    assert len(shown["images"]) == 1


def test_stats_plot_writes_a_png_and_json_has_the_numbers(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    args = ["stats", "pets", "--plot", "out.png", "--json", "--filter", '{"label": "dog"}']
    stats = _json(_run(env_for, tmp_path, *args))
    assert (stats["count"], stats["labels"], stats["sizes"], stats["formats"]) == (
        2,
        {"dog": 2},
        {"24x24": 2},
        {"PNG": 2},
    )
    assert (tmp_path / "out.png").read_bytes().startswith(PNG_MAGIC)


def test_db_upgrade_then_current_reports_the_newest_schema(env_for: dict[str, str], tmp_path: Path) -> None:
    head = db.head_revision()
    upgraded = _run(env_for, tmp_path, "db", "upgrade")
    assert upgraded.returncode == 0, upgraded.stderr
    assert upgraded.stdout.startswith(f"catalog schema at {head}")
    current = _run(env_for, tmp_path, "db", "current")
    assert current.returncode == 0, current.stderr
    assert current.stdout.strip() == f"catalog schema at {head}; newest is {head}"


# -- bad input ---------------------------------------------------------------------------------

Setup = Callable[[Workbench, Path], list[str]]


def _traversal(workbench: Workbench, tmp: Path) -> list[str]:
    return ["ingest", str(builders.traversal_zip(tmp / "evil.zip", "../evil.png")), "--name", "pets"]


def _bomb(workbench: Workbench, tmp: Path) -> list[str]:
    return ["ingest", str(builders.bomb_zip(tmp / "bomb.zip")), "--name", "pets"]


def _missing_path(workbench: Workbench, tmp: Path) -> list[str]:
    return ["ingest", str(tmp / "nowhere"), "--name", "pets"]


def _csv_without_label_column(workbench: Workbench, tmp: Path) -> list[str]:
    images, styles = builders.fashion_catalogue(tmp / "fashion", n=3)
    return ["ingest", str(images), "--name", "fashion", "--labels-csv", str(styles)]


def _unknown_field(workbench: Workbench, tmp: Path) -> list[str]:
    workbench.ingest(_pets(tmp / "pets"), "pets")
    return ["show", "pets", "--filter", '{"colour": "red"}']


def _invalid_json(workbench: Workbench, tmp: Path) -> list[str]:
    workbench.ingest(_pets(tmp / "pets"), "pets")
    return ["stats", "pets", "--filter", "{label: cat}"]


def _unknown_dataset(workbench: Workbench, tmp: Path) -> list[str]:
    workbench.ingest(_pets(tmp / "pets"), "pets")
    return ["show", "nope", "--json"]


@pytest.mark.parametrize(
    ("setup", "says"),
    [
        (_traversal, "'../evil.png' has an absolute path or '..'"),
        (_bomb, "zip bomb"),
        (_missing_path, "nowhere does not exist"),
        (_csv_without_label_column, "--labels-csv needs --label-column"),
        (_unknown_field, "unknown filter field 'colour'; valid fields are: label, split"),
        (_invalid_json, "--filter is not valid JSON"),
        (_unknown_dataset, "no dataset named 'nope'; yours are: pets"),
    ],
    ids=[
        "traversal_zip",
        "zip_bomb",
        "missing_path",
        "csv_without_label_column",
        "unknown_field",
        "invalid_json",
        "unknown_dataset",
    ],
)
def test_bad_input_exits_2_with_one_line_on_stderr(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path, setup: Setup, says: str
) -> None:
    args = setup(workbench, tmp_path)
    assert says in _refused(_run(env_for, tmp_path, *args))


def test_a_filter_that_is_not_a_json_object_is_refused_on_one_line(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    assert "a filter is a JSON object" in _refused(
        _run(env_for, tmp_path, "show", "pets", "--filter", '["cat"]')
    )


def test_a_number_too_large_in_a_filter_is_answered_or_refused_on_one_line(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    result = _run(env_for, tmp_path, "show", "pets", "--filter", '{"bytes__lt": 1e30}', "--json")
    if result.returncode == 0:
        assert json.loads(result.stdout)["count"] == 5
    else:
        _refused(result)


def test_an_unreachable_database_is_reported_on_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("WORKBENCH_")}
    env.update(
        WORKBENCH_DATA_DIR=str(tmp_path / "data"),
        WORKBENCH_USER="tester",
        WORKBENCH_DATABASE_URL="postgresql://workbench@127.0.0.1:1/nowhere",
    )
    assert "cannot reach the catalog database" in _refused(_run(env, tmp_path, "datasets"))


# -- answers a person can act on (issue 16) ------------------------------------------------------


def test_a_misspelt_command_is_answered_with_the_likely_one(env_for: dict[str, str], tmp_path: Path) -> None:
    said = _refused(_run(env_for, tmp_path, "trian", "pets"))
    assert "argument COMMAND: invalid choice 'trian': did you mean 'train'?" in said
    said = _refused(_run(env_for, tmp_path, "report", "modle"))
    assert "argument KIND: invalid choice 'modle': did you mean 'model'?" in said


def test_a_misspelt_dataset_is_answered_with_the_likely_one(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    line = _refused(_run(env_for, tmp_path, "stats", "pest"))
    assert "no dataset named 'pest' (did you mean 'pets'?); yours are: pets" in line


def test_zero_epochs_is_answered_about_epochs(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    line = _refused(_run(env_for, tmp_path, "train", "pets", "--epochs", "0", "--no-wait"))
    assert "epochs: input should be greater than or equal to 1" in line and "freeze" not in line


def test_a_single_class_training_is_refused_before_it_is_queued(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    workbench.ingest(_pets(tmp_path / "pets"), "pets")
    line = _refused(_run(env_for, tmp_path, "train", "pets", "--filter", '{"label": "cat"}', "--no-wait"))
    assert "the images of 'pets' with label = cat are all of one class ('cat')" in line
    assert "View(" not in line
    assert _json(_run(env_for, tmp_path, "jobs", "--json")) == []  # no failed job left behind


def test_a_report_on_a_missing_model_fails_before_a_kernel_starts(
    workbench: Workbench, env_for: dict[str, str], tmp_path: Path
) -> None:
    line = _refused(_run(env_for, tmp_path, "report", "model", "99"))
    assert "no model 99 for user 'tester'; you have no models yet: train one" in line
    # A kernel's run leaves a folder under reports/ (its partial notebook at least): none here.
    assert not (workbench.settings.data_dir / "reports").exists()


def test_jobs_lists_why_a_job_failed(tmp_path: Path) -> None:
    from tests import services
    from workbench.config import Settings

    settings = Settings(data_dir=tmp_path / "data", database_url="", user="tester")
    with Workbench(settings) as bench:
        bench.ingest(_pets(tmp_path / "pets"), "pets")
        view = {"dataset": "pets", "filter": {"label": "cat"}}  # refused by the worker's own check
        try:
            info = services.queue_around_the_client(bench, "train", {"view": view, "epochs": 1}).wait(
                timeout=240
            )
        finally:
            services.kill_local_worker(settings)
    assert info.state == "failed"
    listed = services.cli(settings, "jobs")
    assert listed.returncode == 0, listed.stderr
    assert f"{info.id}  train    failed" in listed.stdout and "failed: " in listed.stdout
    assert "all of one class ('cat')" in listed.stdout
