"""Augmented datasets for real: the catalog on SQLite and Postgres, the embedded local worker, a
real Celery imagery worker on Postgres and RabbitMQ, killed mid-job; the CLI; training on a
dataset with its augmented children."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image as PILImage
from sqlalchemy import select

from tests import builders, services
from tests.conftest import FAST_JOBS as FAST
from workbench.api import Workbench
from workbench.augment import Recipe
from workbench.catalog import Dataset, Image
from workbench.config import Settings
from workbench.derive import AugmentReport, augment_view
from workbench.derive.chunk import CopyMaker, insert_made, source_tuple
from workbench.errors import AugmentError
from workbench.jobs.kind import registered
from workbench.views import View
from workbench.views.preview import preview_copies

RECIPE = {"hflip": 0.5, "rotate": 15, "color_jitter": 0.2, "random_resized_crop": {"scale": [0.7, 1.0]},
          "cutout": 0.3}  # fmt: skip


def fashion(workbench: Workbench, tmp_path: Path, n: int = 12) -> None:
    images, csv = builders.fashion_catalogue(tmp_path / "fashion", n=n)
    workbench.ingest(images, "fashion", labels_csv=csv, label_column="articleType", split="0.5,0.5")


def run(
    workbench: Workbench, view: View, name: str, *, copies: int = 2, seed: int = 0,
    processes: int | None = None, **options: Any,
) -> AugmentReport:  # fmt: skip
    """``augment_view`` here, on a request checked as the job would check it."""
    raw = {"view": json.loads(view.to_json()), "recipe": RECIPE, "copies": copies, "seed": seed, "name": name,
           "processes": processes}  # fmt: skip
    request = registered()["augment"].parse(raw, workbench.catalog, options.get("job_id"))
    return augment_view(workbench.catalog, request, **options)


def rows(workbench: Workbench, name: str) -> list[Image]:
    with workbench.catalog.sessions() as session:
        dataset = workbench.catalog.dataset_row(session, name)
        return list(session.scalars(select(Image).where(Image.dataset_id == dataset.id).order_by(Image.id)))


def hashes(workbench: Workbench, name: str) -> list[str]:
    return sorted(row.sha256 for row in rows(workbench, name))


# -- the catalog, on SQLite and Postgres -------------------------------------------------------------
def test_k_copies_of_n_images_each_linked_to_its_source(workbench: Workbench, tmp_path: Path) -> None:
    fashion(workbench, tmp_path)
    view = workbench.dataset("fashion").filter(label=["Tshirts", "Shirts"])
    sources = {record.id: record for record in view}
    report = run(workbench, view, "fashion-aug", copies=3, seed=4, processes=1)
    assert (report.sources, report.images, report.added) == (8, 24, 24)
    made = rows(workbench, "fashion-aug")
    assert len(made) == 3 * len(sources)
    for row in made:
        source = sources[row.source_image_id]
        assert (row.label, row.split, row.attributes) == (source.label, source.split, source.attributes)
        assert row.format == "JPEG" and row.original_name.startswith(source.original_name + "#aug")
        assert workbench.catalog.store.has(row.sha256)
    assert sorted(row.source_image_id for row in made) == sorted(list(sources) * 3)
    with workbench.catalog.sessions() as session:
        derived = workbench.catalog.dataset_row(session, "fashion-aug")
        parent = workbench.catalog.dataset_row(session, "fashion")
        assert (derived.kind, derived.parent_id, derived.status) == ("augmented", parent.id, "ready")
        assert derived.params["recipe"]["rotate"]["degrees"] == 15 and derived.params["seed"] == 4
        assert derived.params["copies"] == 3 and derived.params["view"]["filter"] == view.spec
    assert workbench.dataset("fashion-aug").labels() == {label: 3 * n for label, n in view.labels().items()}
    assert (
        workbench.dataset("fashion-aug").filter(season="Summer").count()
        == 3 * view.filter(season="Summer").count()
    )
    listed = {d.name: d for d in workbench.datasets()}
    assert (listed["fashion-aug"].kind, listed["fashion-aug"].parent) == ("augmented", "fashion")


def test_the_same_recipe_and_seed_give_the_same_hashes_another_seed_others(
    workbench: Workbench, tmp_path: Path
) -> None:
    fashion(workbench, tmp_path)
    view = workbench.dataset("fashion")
    run(workbench, view, "first", seed=1, processes=1)
    run(workbench, view, "again", seed=1, processes=1)
    run(workbench, view, "reseeded", seed=2, processes=1)
    assert hashes(workbench, "first") == hashes(workbench, "again")
    assert set(hashes(workbench, "first")).isdisjoint(hashes(workbench, "reseeded"))


def test_the_process_pool_makes_what_one_process_makes(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 400, "dog": 300})  # two chunks at 2 copies
    workbench.ingest(folder, "pets")
    view = workbench.dataset("pets")
    seen: list[tuple[int, int]] = []
    pooled = run(
        workbench, view, "pooled", processes=2, progress=lambda done, total: seen.append((done, total))
    )
    run(workbench, view, "alone", processes=1)
    assert pooled.images == 1400 and seen[-1] == (1400, 1400) and len(seen) == 3
    assert hashes(workbench, "pooled") == hashes(workbench, "alone")


def test_a_chunk_processed_twice_or_a_job_run_again_adds_nothing(
    workbench: Workbench, tmp_path: Path
) -> None:
    fashion(workbench, tmp_path)
    view = workbench.dataset("fashion")
    first = run(workbench, view, "twice", copies=2, seed=3, processes=1, job_id="job-1")
    with workbench.catalog.sessions() as session:
        dataset_id = workbench.catalog.dataset_row(session, "twice").id
    records = list(view)  # the same chunk made and inserted again, as a redelivery would
    made = CopyMaker(workbench.catalog.store, Recipe.parse(RECIPE), 3, 2).run(
        [source_tuple(r) for r in records]
    )
    again = insert_made(workbench.catalog, dataset_id, {r.id: r for r in records}, made)  # type: ignore[arg-type]
    assert (again.inserted, again.existing) == (0, 24)
    resumed = run(workbench, view, "twice", copies=2, seed=3, processes=1, job_id="job-1")  # a redelivery
    assert (first.added, resumed.added, resumed.images) == (24, 0, 24)
    assert len(rows(workbench, "twice")) == 24
    # a job cut short after some rows: running it again fills in exactly the rest
    with workbench.catalog.transaction() as session:
        victims = session.scalars(select(Image).where(Image.dataset_id == dataset_id).limit(5)).all()
        for victim in victims:
            session.delete(victim)
        session.get_one(Dataset, dataset_id).status = "augmenting"
    refilled = run(workbench, view, "twice", copies=2, seed=3, processes=1, job_id="job-1")
    assert (refilled.added, refilled.images) == (5, 24)


def test_bad_requests_fail_at_once_and_queue_nothing(workbench: Workbench, tmp_path: Path) -> None:
    fashion(workbench, tmp_path)
    view = workbench.dataset("fashion")
    cases = [
        (
            {"recipe": {"mirror": 1}, "copies": 1, "name": "x"},
            "unknown augmentation op 'mirror'; valid ops: ",
        ),
        ({"recipe": {"rotate": -5}, "copies": 1, "name": "x"}, r"rotate.degrees must be in \[0, 180\]"),
        ({"recipe": RECIPE, "copies": 0, "name": "x"}, "copies must be a whole number from 1 to 100; got 0"),
        ({"recipe": RECIPE, "copies": "2", "name": "x"}, "copies must be a whole number"),
        ({"recipe": RECIPE, "copies": 1, "name": "fashion"}, "'fashion' already exists; choose another"),
        ({"recipe": RECIPE, "copies": 1, "name": " "}, "needs a name"),
    ]
    for options, message in cases:
        with pytest.raises(AugmentError, match=message):
            workbench.augment(view, **options)
    with pytest.raises(AugmentError, match="has no images: nothing to augment"):
        workbench.augment(view.filter(year__gt=3000), RECIPE, copies=1, name="x")
    with pytest.raises(AugmentError, match="nothing to preview"):
        workbench.augment_preview(view.filter(year__gt=3000), RECIPE)
    assert workbench.jobs() == []


def test_a_failed_run_leaves_nothing_and_frees_the_name(workbench: Workbench, tmp_path: Path) -> None:
    fashion(workbench, tmp_path)
    view = workbench.dataset("fashion")

    def blobs() -> set[Path]:  # files only: the fan-out folders may stay
        return {path for path in workbench.catalog.store.blobs.rglob("*") if path.is_file()}

    blobs_before = blobs()

    def stop() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(workbench, view, "doomed", processes=1, checkpoint=stop)
    with workbench.catalog.sessions() as session:
        assert session.scalars(select(Dataset).where(Dataset.name == "doomed")).first() is None
    assert blobs() == blobs_before
    assert run(workbench, view, "doomed", processes=1).images == 24


def test_a_run_taken_over_by_another_worker_keeps_what_it_wrote(workbench: Workbench, tmp_path: Path) -> None:
    # A stalled worker whose job was reaped learns it at a checkpoint: the dataset is now the
    # other run's too, so it stops without undoing, and that run finishes it.
    fashion(workbench, tmp_path)
    view = workbench.dataset("fashion")

    def lost() -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run(
            workbench,
            view,
            "shared",
            processes=1,
            job_id="job-2",
            checkpoint=lost,
            undo_on_failure=lambda: False,
        )
    with workbench.catalog.sessions() as session:
        hidden = session.scalars(select(Dataset).where(Dataset.name == "shared")).one()
        assert hidden.status == "augmenting"
    assert [d.name for d in workbench.datasets()] == ["fashion"]
    finished = run(workbench, view, "shared", processes=1, job_id="job-2")
    assert (finished.added, finished.images) == (0, 24)


def test_copies_of_large_images_get_thumbnails_like_ingested_ones(
    workbench: Workbench, tmp_path: Path
) -> None:
    folder = tmp_path / "big" / "cat"
    folder.mkdir(parents=True)
    (folder / "large.png").write_bytes(builders.image_bytes(1, size=(300, 200)))
    workbench.ingest(folder.parent, "big")
    run(workbench, workbench.dataset("big"), "big-aug", copies=1, processes=1)
    (copy,) = rows(workbench, "big-aug")
    thumb = workbench.catalog.store.thumb_path(copy.sha256)
    assert (copy.width, copy.height, copy.format) == (300, 200, "PNG") and thumb.suffix == ".jpg"
    assert PILImage.open(thumb).size == (128, 85)


def test_the_preview_shows_before_and_after_and_the_job_stores_those_copies(
    workbench: Workbench, tmp_path: Path
) -> None:
    fashion(workbench, tmp_path)
    view = workbench.dataset("fashion")
    figure = workbench.augment_preview(view, RECIPE, n=4, seed=9, copies=2)
    assert len(figure.axes) == 3 * 4 and figure.axes[0].get_ylabel() == "before"
    assert [ax.get_title() for ax in figure.axes[4:6]] == ["copy 0", "copy 0"]
    figure.savefig(tmp_path / "preview.png")  # renders
    shown = {
        hashlib.sha256(m.data).hexdigest() for _, made in preview_copies(view, RECIPE, 4, 9, 2) for m in made
    }
    run(workbench, view, "previewed", copies=2, seed=9, processes=1)
    assert len(shown) == 8 and shown <= set(hashes(workbench, "previewed"))


# -- the embedded default: SQLite and the local worker ---------------------------------------------------
@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Workbench]:
    settings = Settings(data_dir=tmp_path / "data", user="tester", jobs=FAST)
    workbench = Workbench(settings)
    yield workbench
    workbench.close()
    services.kill_local_worker(settings)


@pytest.mark.slow
def test_the_cli_augments_on_the_local_worker_and_shows_hashes(embedded: Workbench, tmp_path: Path) -> None:
    fashion(embedded, tmp_path)
    settings = embedded.settings
    jeans = ["--filter", '{"label": "Jeans"}', "--copies", "3", "--seed", "5", "--name", "jeans3", "--json"]
    done = services.cli(settings, "augment", "fashion", "--recipe", json.dumps(RECIPE), *jeans)
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert (report["sources"], report["copies"], report["images"]) == (4, 3, 12)
    shown = json.loads(services.cli(settings, "show", "jeans3", "--json", "--hashes").stdout)
    assert sorted(shown["sha256"]) == hashes(embedded, "jeans3") and shown["count"] == 12
    queued = services.cli(settings, "augment", "fashion", "--recipe", '{"hflip": 1}', "--name", "flipped",
                          "--no-wait", "--json")  # fmt: skip
    job = embedded.job(json.loads(queued.stdout)["job"])
    assert job.wait(timeout=60).state == "succeeded" and embedded.dataset("flipped").count() == 12
    bad = services.cli(settings, "augment", "fashion", "--recipe", '{"hflip": 2}', "--name", "x")
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "hflip.p must be in [0, 1]" in bad.stderr
    taken = services.cli(settings, "augment", "fashion", "--recipe", '{"hflip": 1}', "--name", "jeans3")
    assert taken.returncode == 2 and "already exists" in taken.stderr


@pytest.mark.slow
def test_a_killed_local_worker_s_augmentation_finishes_exactly_once(
    embedded: Workbench, tmp_path: Path
) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 1000, "dog": 1000})
    embedded.ingest(folder, "pets")
    job = embedded.augment(embedded.dataset("pets"), RECIPE, copies=4, seed=1, name="pets4")
    services.until(lambda: 0 < job.info().progress < 0.6, 60, "the augmentation to be part way")
    services.kill_local_worker(embedded.settings)
    info = job.wait(timeout=120)  # a new local worker's reaper finds the stale job
    assert (info.state, info.deliveries) == ("succeeded", 2), info
    assert embedded.dataset("pets4").count() == 8000 and len(set(hashes(embedded, "pets4"))) == 8000
    assert embedded.dataset("pets4").labels() == {"cat": 4000, "dog": 4000}


@pytest.mark.slow
def test_an_aborted_augmentation_leaves_nothing(embedded: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 1000, "dog": 1000})
    embedded.ingest(folder, "pets")
    job = embedded.augment(embedded.dataset("pets"), RECIPE, copies=4, seed=1, name="stopped")
    services.until(lambda: 0 < job.info().progress < 0.6, 60, "the augmentation to be part way")
    job.abort()
    assert job.wait(timeout=60).state == "aborted"
    assert [d.name for d in embedded.datasets()] == ["pets"]
    with embedded.catalog.sessions() as session:
        assert session.scalars(select(Image).where(Image.source_image_id.is_not(None))).first() is None
    again = embedded.augment(embedded.dataset("pets").filter(label="cat"), {"hflip": 1}, name="stopped").wait(
        timeout=60
    )
    assert again.state == "succeeded" and embedded.dataset("stopped").count() == 1000


# -- a real Celery imagery worker on Postgres and RabbitMQ -------------------------------------------------
@pytest.mark.slow
@pytest.mark.postgres
def test_the_imagery_worker_makes_the_bytes_this_process_makes_and_survives_a_kill(
    bench: Workbench,
    start_worker,
    tmp_path: Path,
) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 1200, "dog": 800}, fmt="JPEG")
    bench.ingest(folder, "pets")
    view = bench.dataset("pets")
    first = start_worker()
    # One process (chunk above the job's size): test_fanout.py cuts augment into chunks.
    job = bench.augment(view, RECIPE, copies=3, seed=2, name="on-worker", chunk=100_000)
    services.until(lambda: 0 < job.info().progress < 0.6, 120, "the augmentation to be part way")
    first.kill()
    start_worker()
    info = job.wait(timeout=180)
    assert (info.state, info.deliveries) == ("succeeded", 2), info
    assert info.worker and "test-" in info.worker
    run(bench, view, "in-process", copies=3, seed=2, processes=1)
    assert (
        hashes(bench, "on-worker") == hashes(bench, "in-process") and len(hashes(bench, "on-worker")) == 6000
    )


# -- training on a dataset and its augmented children ----------------------------------------------------
@pytest.mark.slow
def test_training_uses_the_copies_of_training_images_and_records_them(
    embedded: Workbench, tmp_path: Path
) -> None:
    from workbench.demo import write_digits
    from workbench.registry import get_model

    images, csv = write_digits(tmp_path / "digits")
    embedded.ingest(images, "digits", labels_csv=csv, label_column="digit", split="0.8,0.1,0.1", seed=0)
    view = embedded.dataset("digits").filter(label=["0", "1"])
    assert (
        embedded.augment(view, {"rotate": 10}, copies=2, seed=0, name="digits-rot").wait(timeout=120).state
        == "succeeded"
    )
    info = embedded.train(view, name="with-copies", epochs=1, image_size=16, hflip=False,
                          augmented=True).wait(timeout=600)  # fmt: skip
    assert info.state == "succeeded", info.error
    model = get_model(embedded.catalog, info.result["model_id"])
    assert model.view == {"dataset": "digits", "filter": {"label": ["0", "1"]}, "augmented": ["digits-rot"]}
    train_sources = {r.id for r in view if r.split == "train"}
    copies = {row.id: row.source_image_id for row in rows(embedded, "digits-rot")}
    used = [copies[i] for i in model.train_image_ids if i in copies]
    assert sorted(used) == sorted(list(train_sources) * 2)  # every copy of a training image, no other
    assert len(model.train_image_ids) == 3 * len(train_sources)
    assert model.metrics["augmented_images"] == 2 * len(train_sources)
    refused = embedded.train(view, epochs=1, image_size=16, augmented=["nope"]).wait(timeout=120)
    assert refused.state == "failed" and "those are: digits-rot" in (refused.error or "")
