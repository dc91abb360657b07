"""Usage of models, counted where predictions are served: alice and bob predict with alice's
published model through the REST API (a real uvicorn) and the dashboard's Predict tab, and
alice's model report counts each of them per channel; a batch job counts its images on both
backends; and row-level security lets a model's owner read everyone's use of it, and nobody
anyone else's."""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from PIL import Image as PILImage
from sqlalchemy import create_engine, text

from tests import builders
from tests.rest import running_api
from tests.team import team_database
from workbench.api import Workbench
from workbench.catalog import Catalog
from workbench.catalog.models import Model
from workbench.config import Settings
from workbench.ml.predict import OnnxPredictor
from workbench.photos import open_photo
from workbench.usage import LOW_CONFIDENCE, record, usage_of

REPO = Path(__file__).resolve().parents[2]
CLASSES = ["cat", "dog", "owl"]  # three classes: a top answer may be under 50%


def _tiny_model(catalog: Catalog, folder: Path, name: str = "tiny", *, published: bool = False) -> int:
    """A model row whose export is a real (tiny) ONNX model: predicting works, no training needed."""
    export = builders.onnx_export(folder / name, CLASSES)
    with catalog.transaction() as session:
        row = Model(owner=catalog.user, name=name, arch="tiny", classes=CLASSES, image_size=8,
                    export_dir=str(export), published=published)  # fmt: skip
        session.add(row)
        session.flush()
        return row.id


@pytest.fixture
def home(tmp_path: Path) -> Iterator[None]:
    """Jupyter, IPython and matplotlib write under $HOME: here, for the report's kernel, which
    imports this worktree's package."""
    with pytest.MonkeyPatch.context() as patch:
        for name, folder in [("JUPYTER_RUNTIME_DIR", "runtime"), ("JUPYTER_DATA_DIR", "data"),
                             ("IPYTHONDIR", "ipython"), ("MPLCONFIGDIR", "mpl")]:  # fmt: skip
            patch.setenv(name, str(tmp_path / "home" / folder))
        patch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])))
        yield


def _usage_table(notebook: Path) -> dict[tuple[str, str], tuple[int, str]]:
    """The usage section's rows of an executed model report: (person, channel) to (predictions,
    low-confidence share as shown)."""
    outputs = [
        output["data"]["text/html"]
        for cell in nbformat.read(notebook, as_version=4).cells
        for output in cell.get("outputs", [])
        if "text/html" in output.get("data", {})
    ]
    (usage,) = [html for html in outputs if html.startswith("<h2>Usage</h2>")]
    rows = re.findall(r"<tr><td>([^<]+)</td><td>([^<]+)</td><td>([\d,]+)</td><td>([^<]+)</td></tr>", usage)
    return {(user, channel): (int(n.replace(",", "")), share) for user, channel, n, share in rows}


def _white() -> bytes:
    out = io.BytesIO()
    PILImage.new("RGB", (24, 24), "white").save(out, format="PNG")
    return out.getvalue()


def _expected(folder: Path, photos: list[bytes]) -> tuple[int, str]:
    """What the usage table should say of these photos: how many, and the share the tiny model
    answers with a top probability under the threshold, as the report shows it."""
    predictor, limits = OnnxPredictor(folder), Settings().limits
    low = sum(predictor.top_k(open_photo(p, limits, "photo"), 1)[0][1] < LOW_CONFIDENCE for p in photos)
    return len(photos), f"{low / len(photos):.1%}"


@pytest.mark.postgres
@pytest.mark.slow
def test_predictions_by_two_people_through_two_channels_are_in_the_model_report(
    tmp_path: Path, home: None
) -> None:
    from workbench.widgets.models import ModelsPanel
    from workbench.widgets.predict import PredictPanel
    from workbench.widgets.state import DashboardState

    # A white photo the tiny model answers at 54%, noise at about a third each: low-confidence
    # shares that differ between people and channels.
    photos = [_white() if n % 2 == 0 else builders.image_bytes(n) for n in range(6)]
    data = tmp_path / "data"  # one machine: the API and the people share its store
    with team_database(("alice", "bob")) as team:
        alice, bob = Workbench(team.settings("alice", data)), Workbench(team.settings("bob", data))
        try:
            model_id = _tiny_model(alice.catalog, tmp_path / "exports", published=True)
            tokens = {
                name: bench.create_token("usage", "read")[1]
                for name, bench in (("alice", alice), ("bob", bob))
            }
            sent = {("alice", "api"): photos[:2], ("bob", "api"): photos[2:5],
                    ("alice", "dashboard"): photos[5:], ("bob", "dashboard"): photos[:4]}  # fmt: skip
            with running_api(team.service_settings(data), tmp_path / "api.log") as api:
                for name in ("alice", "bob"):
                    with api.client(tokens[name]) as client:
                        for photo in sent[name, "api"]:
                            answer = client.post(f"/v1/models/{model_id}/predict", content=photo)
                            assert answer.status_code == 200, answer.text
            for name, bench in (("alice", alice), ("bob", bob)):
                panel = PredictPanel(DashboardState(bench))
                panel.choice.value = model_id
                for n, photo in enumerate(sent[name, "dashboard"]):
                    panel._photo_changed({"new": [{"name": f"{n}.png", "content": memoryview(photo)}]})
                    assert "predicted:" in panel.status.value, panel.status.value

            report = alice.report("model", {"model_id": model_id})
            table = _usage_table(alice.report_notebook(report["id"]))
            export = tmp_path / "exports" / "tiny"
            assert table == {(team.user(name), channel): _expected(export, sent[name, channel])
                             for name, channel in sent}  # fmt: skip
            # bob's report on alice's model shows only his own use of it
            bobs = _usage_table(bob.report_notebook(bob.report("model", {"model_id": model_id})["id"]))
            assert {key: n for key, (n, _) in bobs.items()} == {
                (team.user("bob"), "api"): 3,
                (team.user("bob"), "dashboard"): 4,
            }
            # the Models tab: alice sees all 10 answers, 5 of them (50%) low-confidence; bob his 7
            for bench, served, share in ((alice, "10", "50.0 %"), (bob, "7", "42.9 %")):
                models = ModelsPanel(DashboardState(bench))
                models.choice.value = model_id
                card = re.search(r"workbench-kpis'>(.*?)</div></div>", models.usage.value)
                assert card and f"<b>{served}</b><span>Predictions served" in card[1], models.usage.value
                assert f"<b>{share}</b><span>Low-confidence answers" in card[1], models.usage.value
        finally:
            alice.close()
            bob.close()


@pytest.mark.postgres
def test_row_level_security_lets_a_model_owner_read_everyones_use_of_it_and_nobody_more(
    tmp_path: Path,
) -> None:
    with team_database(("alice", "bob")) as team:
        alice, bob = team.catalog("alice", tmp_path), team.catalog("bob", tmp_path)
        try:
            published = _tiny_model(alice, tmp_path, "published", published=True)
            private = _tiny_model(alice, tmp_path, "private")
            bobs = _tiny_model(bob, tmp_path, "bobs")
            record(bob, published, "api", [0.9, 0.4, 0.8])
            record(bob, bobs, "batch", [0.3, 0.9])
            record(alice, published, "dashboard", [0.7])
            record(alice, published, "dashboard", [0.2])  # the same day's row, added to
            record(bob, private, "api", [0.9])  # refused by the policy (logged, not raised)

            mine = {
                (u.user, u.channel): (u.predictions, u.low_confidence) for u in usage_of(alice, published)
            }
            assert mine == {(team.user("alice"), "dashboard"): (2, 1), (team.user("bob"), "api"): (3, 1)}
            theirs = {
                (u.user, u.channel): (u.predictions, u.low_confidence) for u in usage_of(bob, published)
            }
            assert theirs == {(team.user("bob"), "api"): (3, 1)}
            assert usage_of(alice, bobs) == []

            # the policies themselves, without the queries' own filters
            def visible(catalog: Catalog) -> set[tuple[int, str]]:
                with catalog.connect() as connection:
                    rows = connection.execute(text("SELECT model_id, owner FROM model_usage"))
                    return {(model_id, owner) for model_id, owner in rows}

            assert visible(alice) == {(published, team.user("alice")), (published, team.user("bob"))}
            assert visible(bob) == {(published, team.user("bob")), (bobs, team.user("bob"))}
            with bob.transaction() as session:  # not his row to change, though he can see it is there
                changed = session.execute(text("UPDATE model_usage SET predictions = 0 WHERE owner <> :me"),
                                          {"me": bob.user})  # fmt: skip
                assert changed.rowcount == 0  # type: ignore[attr-defined]
            admin = create_engine(team.admin_url)
            try:
                with admin.connect() as connection:
                    assert (
                        connection.execute(
                            text("SELECT count(*) FROM model_usage WHERE model_id = :m"), {"m": private}
                        ).scalar_one()
                        == 0
                    )
            finally:
                admin.dispose()
        finally:
            alice.dispose()
            bob.dispose()


@pytest.mark.slow
def test_a_batch_predict_job_counts_its_images_and_a_second_run_adds_to_them(
    workbench: Workbench, tmp_path: Path
) -> None:
    workbench.ingest(builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2}), "pets")
    model_id = _tiny_model(workbench.catalog, tmp_path)
    for _ in range(2):
        info = workbench.predict(model_id, workbench.dataset("pets")).wait(timeout=300)
        assert info.state == "succeeded", info.error
    with workbench.catalog.sessions() as session:
        scores = list(
            session.scalars(text("SELECT score FROM predictions WHERE model_id = :m"), {"m": model_id})
        )
    (row,) = usage_of(workbench.catalog, model_id)
    assert (row.user, row.channel, row.predictions) == (workbench.catalog.user, "batch", 10)
    assert row.low_confidence == 2 * sum(score < LOW_CONFIDENCE for score in scores)
