"""Ingest from folders, zips and CSVs, on SQLite and on the real Postgres, good input and hostile."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from tests import builders
from workbench.api import Workbench
from workbench.errors import IngestError, NotFoundError


def _blob_files(workbench: Workbench) -> list[Path]:
    root = workbench.settings.data_dir / "blobs"
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_image_folder_is_ingested_with_labels_sizes_and_hashes(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    report = workbench.ingest(folder, "pets")
    assert (report.ingested, report.duplicates, report.skipped) == (5, 0, [])
    view = workbench.dataset("pets")
    assert view.labels() == {"cat": 3, "dog": 2}
    record = view.page()[0]
    assert (record.width, record.height, record.format) == (24, 24, "PNG")
    assert workbench.catalog.store.read(record.sha256) == (folder / record.original_name).read_bytes()
    assert len(_blob_files(workbench)) == 5


def test_second_ingest_of_the_same_images_adds_nothing(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2})
    workbench.ingest(folder, "pets")
    (folder / "cat" / "copy.png").write_bytes((folder / "cat" / "0.png").read_bytes())
    report = workbench.ingest(folder, "pets", append=True)
    assert (report.ingested, report.duplicates) == (0, 6)
    assert workbench.dataset("pets").count() == 5


def test_an_existing_name_is_refused_without_append_and_nothing_is_mixed(
    workbench: Workbench, tmp_path: Path
) -> None:
    workbench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2}), "pets")
    other = builders.image_folder(tmp_path / "shapes", {"circle": 2}, start=100)
    with pytest.raises(
        IngestError, match=r"a dataset named 'pets' exists already \(5 images\): add to it with --append"
    ):
        workbench.ingest(other, "pets")
    with pytest.raises(IngestError, match="exists already"):  # the job is refused before it is queued
        workbench.ingest_job(other, "pets")
    assert workbench.dataset("pets").labels() == {"cat": 3, "dog": 2} and workbench.jobs() == []
    assert workbench.ingest(other, "pets", append=True).ingested == 2


def test_zip_with_a_wrapping_folder_and_unicode_names(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "src", {"chat noir": 2, "собака": 2})
    (folder / "собака" / "0.png").rename(folder / "собака" / "щенок 🐶.png")
    archive = builders.zip_of(folder, tmp_path / "pets.zip", prefix="pets/")
    with zipfile.ZipFile(archive, "a") as zf:
        zf.writestr("__MACOSX/pets/._junk", b"resource fork")
    report = workbench.ingest(archive, "pets")
    assert report.ingested == 4 and report.skipped == []
    names = {r.original_name for r in workbench.dataset("pets")}
    assert "pets/собака/щенок 🐶.png" in names
    assert workbench.dataset("pets").labels() == {"chat noir": 2, "собака": 2}


@pytest.mark.parametrize(
    "hostile",
    ["../evil.png", "cats/../../evil.png", "/etc/evil.png", "C:/evil.png", "cats\\..\\..\\evil.png"],
)
def test_traversal_zip_is_refused_whole_and_writes_nothing(
    workbench: Workbench, tmp_path: Path, hostile: str
) -> None:
    archive = builders.traversal_zip(tmp_path / "traversal.zip", hostile)
    with pytest.raises(IngestError, match=r"absolute path or '\.\.'") as error:
        workbench.ingest(archive, "pets")
    assert repr(hostile) in str(error.value)
    assert _blob_files(workbench) == []
    assert not (tmp_path / "evil.png").exists()
    with pytest.raises(NotFoundError):
        workbench.dataset("pets")


def test_zip_bomb_is_refused_before_anything_is_written(workbench: Workbench, tmp_path: Path) -> None:
    archive = builders.bomb_zip(tmp_path / "bomb.zip")
    assert archive.stat().st_size < 1024 * 1024
    with pytest.raises(IngestError, match="zip bomb"):
        workbench.ingest(archive, "pets")
    assert _blob_files(workbench) == []


def test_zip_member_lying_about_its_size_is_read_no_further(workbench: Workbench, tmp_path: Path) -> None:
    archive = builders.lying_size_zip(tmp_path / "liar.zip")
    report = workbench.ingest(archive, "pets")
    assert report.ingested == 1
    assert [(s.file, s.reason.split(" (")[0]) for s in report.skipped] == [
        ("cats/liar.png", "corrupt zip member")
    ]


def test_bad_files_are_skipped_with_reasons_and_good_ones_kept(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 2})
    builders.truncated_jpeg(folder / "cat" / "truncated.jpg")
    builders.truncated_jpeg(folder / "cat" / "truncated_photo.jpg", size=(400, 300))  # thumbnailed
    builders.damaged_png(folder / "cat" / "damaged.png")
    builders.pixel_bomb_png(folder / "cat" / "pixel_bomb.png")
    (folder / "cat" / "empty.png").write_bytes(b"")
    (folder / "cat" / "notes.txt").write_text("not an image")
    (folder / "cat" / "corrupt.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)
    (folder / "loose.png").write_bytes(builders.image_bytes(99))
    report = workbench.ingest(folder, "pets")
    reasons = {s.file: s.reason for s in report.skipped}
    assert report.ingested == 2
    assert "truncated" in reasons["cat/truncated.jpg"]
    assert "truncated" in reasons["cat/truncated_photo.jpg"]
    assert "checksum" in reasons["cat/damaged.png"]
    assert "pixels" in reasons["cat/pixel_bomb.png"]
    assert reasons["cat/empty.png"] == "empty file"
    assert "not an image" in reasons["cat/notes.txt"]
    assert "corrupt" in reasons["cat/corrupt.png"] or "not an image" in reasons["cat/corrupt.png"]
    assert "label folder" in reasons["loose.png"]


def test_oversized_file_is_skipped(settings, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    from workbench.config import Limits

    bench = Workbench(settings.with_overrides(limits=Limits(max_image_bytes=5000)))
    folder = builders.image_folder(tmp_path / "pets", {"cat": 1})
    (folder / "cat" / "big.png").write_bytes(builders.image_bytes(5, size=(64, 64)))
    report = bench.ingest(folder, "pets")
    assert report.ingested == 1
    assert "too large" in report.skipped[0].reason
    bench.close()


def test_empty_folder_is_an_error_and_leaves_no_dataset(workbench: Workbench, tmp_path: Path) -> None:
    (tmp_path / "empty" / "cat").mkdir(parents=True)
    with pytest.raises(IngestError, match="no image could be ingested"):
        workbench.ingest(tmp_path / "empty", "pets")
    assert workbench.datasets() == []


def test_csv_attributes_are_typed_and_the_label_column_chosen(workbench: Workbench, tmp_path: Path) -> None:
    images, styles = builders.fashion_catalogue(tmp_path / "fashion")
    report = workbench.ingest(images, "fashion", labels_csv=styles, label_column="articleType")
    assert report.ingested == 12 and report.csv_issues == []
    view = workbench.dataset("fashion")
    assert view.labels() == {"Jeans": 4, "Shirts": 4, "Tshirts": 4}
    attributes = view.page()[0].attributes
    assert attributes["year"] == 2011 and attributes["id"] == 1000
    assert attributes["productDisplayName"] == "Item 0, with a comma"
    assert "articleType" not in attributes


def test_csv_problems_are_reported_never_fatal(workbench: Workbench, tmp_path: Path) -> None:
    images, styles = builders.fashion_catalogue(tmp_path / "fashion", n=6)
    lines = styles.read_text().splitlines()
    lines.append(lines[1])  # duplicate id 1000
    lines.append("2000,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,No image for me")
    lines.append("2001,Men,Apparel,Topwear,Shirts,Blue,Summer,2012,Casual,Too,many,fields")
    (tmp_path / "styles_bad_rows.csv").write_text("\n".join(lines) + "\n")
    (images / "3000.jpg").write_bytes(builders.image_bytes(3000, fmt="JPEG"))  # no row
    report = workbench.ingest(
        images, "fashion", labels_csv=tmp_path / "styles_bad_rows.csv", label_column="articleType"
    )
    reasons = " | ".join(issue["reason"] for issue in report.csv_issues)
    assert "duplicate id '1000'" in reasons
    assert "no image file for id '2000'" in reasons
    assert "12 fields where the header has 10" in reasons
    assert [s.reason for s in report.skipped] == ["no row in the CSV for id '3000'"]
    assert report.ingested == 6


def test_csv_with_nan_and_inf_ingests_a_readable_dataset(workbench: Workbench, tmp_path: Path) -> None:
    images, styles = builders.fashion_catalogue(tmp_path / "fashion", n=3)
    lines = styles.read_text().splitlines()
    lines[1] = lines[1].replace(",2011,", ",nan,")
    lines[2] = lines[2].replace(",2012,", ",inf,")
    styles.write_text("\n".join(lines) + "\n")
    report = workbench.ingest(images, "fashion", labels_csv=styles, label_column="articleType")
    assert report.ingested == 3
    assert [i["reason"] for i in report.csv_issues] == [
        "year: 'nan' is not a finite number; left out",
        "year: 'inf' is not a finite number; left out",
    ]
    view = workbench.dataset("fashion")
    assert [r.attributes.get("year") for r in view.page()] == [None, None, 2013]
    assert view.filter(year__exists=True).count() == 1


def test_csv_without_the_label_column_is_refused_with_the_columns(
    workbench: Workbench, tmp_path: Path
) -> None:
    images, styles = builders.fashion_catalogue(tmp_path / "fashion", n=3)
    with pytest.raises(IngestError, match=r"no column 'category'.*articleType"):
        workbench.ingest(images, "fashion", labels_csv=styles, label_column="category")


def test_split_is_seeded_and_stratified(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 10, "dog": 20})
    report = workbench.ingest(folder, "pets", split="0.8,0.1,0.1", seed=3)
    assert report.splits == {"train": 24, "val": 3, "test": 3}
    view = workbench.dataset("pets")
    assert view.filter(split="val").labels() == {"dog": 2, "cat": 1}
    first = {r.sha256: r.split for r in view}
    again = Workbench(workbench.settings.with_overrides(user="other"))
    again.ingest(folder, "pets", split="0.8,0.1,0.1", seed=3)
    assert {r.sha256: r.split for r in again.dataset("pets")} == first
    again.close()


def test_datasets_are_private_to_their_owner(workbench: Workbench, tmp_path: Path) -> None:
    workbench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 2}), "pets")
    stranger = Workbench(workbench.settings.with_overrides(user="stranger"))
    assert stranger.datasets() == []
    with pytest.raises(NotFoundError):
        stranger.dataset("pets")
    stranger.close()


def test_symbolic_links_are_never_followed(workbench: Workbench, tmp_path: Path) -> None:
    folder = builders.image_folder(tmp_path / "pets", {"cat": 1})
    secret = tmp_path / "secret.png"
    secret.write_bytes(builders.image_bytes(42))
    (folder / "cat" / "link.png").symlink_to(secret)
    report = workbench.ingest(folder, "pets")
    assert report.ingested == 1
    assert [(s.file, s.reason) for s in report.skipped] == [("cat/link.png", "symbolic link (not followed)")]


def test_rows_another_writer_inserted_meanwhile_are_skipped_not_fatal(
    workbench: Workbench, tmp_path: Path
) -> None:
    from workbench.catalog.bulk import insert_images

    workbench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 2}), "pets")
    view = workbench.dataset("pets")
    known = view.page()[0]
    row = {
        k: getattr(known, k)
        for k in ("sha256", "label", "width", "height", "format", "bytes", "original_name")
    }
    fresh = {**row, "sha256": "f" * 64, "original_name": "cat/new.png"}
    with workbench.catalog.transaction() as session:  # the race: one row exists, one is new
        added = insert_images(
            session,
            [
                {**row, "dataset_id": view.dataset_id, "owner": "tester"},
                {**fresh, "dataset_id": view.dataset_id, "owner": "tester"},
            ],
        )
    assert added == 1
    assert view.count() == 3
