"""Every job kind's parameters are checked by one code path, before anything is queued and again
on the worker: one error class (ParamsError, also the kind's domain error) and one message shape,
from the Python API and from the CLI (exit 2, one line on stderr)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import builders, services
from tests.conftest import FAST_JOBS
from workbench.api import Workbench
from workbench.catalog.models import Job as JobRow
from workbench.config import Settings
from workbench.errors import AugmentError, JobError, ParamsError, ReportError, TrainingError
from workbench.kinds import load_kinds

# The product's kinds (chunk kinds: below), not those other test modules declare for themselves.
KINDS = sorted(
    name
    for name, kind in load_kinds().items()
    if kind.part_of is None and kind.run.__module__.startswith("workbench.")
)
SHAPE = r"^invalid {kind} parameters: "


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Workbench]:
    settings = Settings(data_dir=tmp_path / "data", user="tester", jobs=FAST_JOBS)
    with Workbench(settings) as bench:
        bench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 3}), "pets")
        yield bench
    services.kill_local_worker(settings)


@pytest.mark.parametrize("kind", KINDS)
def test_an_unknown_parameter_is_refused_before_queueing(embedded: Workbench, kind: str) -> None:
    with pytest.raises(
        ParamsError, match=SHAPE.format(kind=kind) + r".*unknown parameter 'bogus' \(valid: "
    ) as error:
        embedded.submit(kind, {"bogus": 1})
    assert "\n" not in str(error.value)
    assert embedded.jobs() == []


@pytest.mark.parametrize("kind", KINDS)
def test_the_cli_refuses_the_same_on_one_line(embedded: Workbench, kind: str) -> None:
    done = services.cli(embedded.settings, "submit", kind, '{"bogus": 1}')
    assert done.returncode == 2 and done.stdout == "", done
    assert re.match(rf"workbench: error: invalid {kind} parameters: .*unknown parameter 'bogus'", done.stderr)
    assert done.stderr.count("\n") == 1, done.stderr
    assert embedded.jobs() == []


# Each kind through its own door, with a value of the wrong kind or out of range.
def _calls(bench: Workbench) -> dict[str, tuple[object, str]]:
    pets = bench.dataset("pets")
    return {
        "ping": (lambda: bench.submit("ping", {"steps": -1}), "steps: input should be greater than or equal"),
        "ingest": (lambda: bench.ingest_job("somewhere", " "), "the dataset needs a name"),
        "augment": (lambda: bench.augment(pets, {"hflip": 1}, copies=0, name="x"), "copies must be a whole"),
        "train": (lambda: bench.train(pets, epochs=0), "epochs: input should be greater than or equal to 1"),
        "predict": (lambda: bench.predict(1, pets, batch_size="64"), "batch_size: input should be a valid"),
        "evaluate": (lambda: bench.evaluate(0, pets), "model_id: input should be greater than or equal to 1"),
        "report": (lambda: bench.report_job("nope"), "unknown report 'nope'; reports: model, dataset"),
        "sweep": (lambda: bench.sweep(pets, lrs=[-1.0]), "lr: input should be greater than 0"),
    }


@pytest.mark.parametrize("kind", KINDS)
def test_each_kind_s_own_call_refuses_a_bad_value_in_the_same_shape(embedded: Workbench, kind: str) -> None:
    call, says = _calls(embedded)[kind]
    with pytest.raises(ParamsError, match=SHAPE.format(kind=kind) + ".*" + re.escape(says)):
        call()  # type: ignore[operator]
    assert embedded.jobs() == []


def test_a_chunk_kind_is_never_submitted_on_its_own(embedded: Workbench) -> None:
    chunks = sorted(name for name, kind in load_kinds().items() if kind.part_of is not None)
    assert chunks == ["augment_chunk", "evaluate_chunk", "ingest_chunk", "predict_chunk", "sweep_chunk"]
    with pytest.raises(JobError, match=r"^'ingest_chunk' jobs are parts of 'ingest' jobs: submit 'ingest'$"):
        embedded.submit("ingest_chunk", {"index": 0, "part": {}})
    assert embedded.jobs() == []


def test_a_kind_s_parameter_error_is_also_its_domain_s_error(embedded: Workbench) -> None:
    pets = embedded.dataset("pets")
    with pytest.raises(TrainingError):
        embedded.train(pets, freeze_epochs=3, epochs=2)
    with pytest.raises(AugmentError):
        embedded.augment(pets, {"mirror": 1}, name="x")
    with pytest.raises(ReportError):
        embedded.report_job("model", {"no_such": 1})


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["train", "pets", "--epochs", "0"], "invalid train parameters: epochs: input should be greater"),
        (["train", "pets", "--epochs", "two"], "argument --epochs: invalid int value: 'two'"),
        (
            ["augment", "pets", "--recipe", "{}", "--name", "x"],
            "invalid augment parameters: the recipe has no ops",
        ),
        (["submit", "ping", "[1]"], "the parameters are a JSON object, not list"),
        (["submit", "nope"], "unknown job kind 'nope'; known: augment, evaluate, ingest, ping"),
    ],
)
def test_the_commands_refuse_bad_values_on_one_line(embedded: Workbench, args: list[str], says: str) -> None:
    done = services.cli(embedded.settings, *args)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and says in done.stderr, done


@pytest.mark.slow
def test_a_row_written_around_the_client_is_refused_on_the_worker(embedded: Workbench) -> None:
    """The worker parses the row's parameters again: the jobs table is its input."""
    with embedded.catalog.transaction() as session:
        session.add(JobRow(id="written-by-hand", owner="tester", kind="ping", params={"steps": "three"}))
    job = embedded.job("written-by-hand")
    from workbench.jobs.local import ensure_local_worker

    ensure_local_worker(embedded.settings)
    info = job.wait(timeout=60)
    assert info.state == "failed" and (info.error or "").startswith("invalid ping parameters: steps: "), info
    assert json.dumps(info.params) == '{"steps": "three"}'
