"""Sharing: alice shares a dataset and a model with bob; he reads them (``alice/pets``), cannot
change or delete them, and carol sees nothing; a published model is visible to everyone. The
same on a team server, where the row-level policies enforce it (and bob's own SQL can change
nothing shared), and on one catalog where only the application's queries do (the embedded
default, an administrator's login)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from tests import builders
from tests.team import Team, team_database
from workbench.api import Workbench
from workbench.catalog.models import Model
from workbench.config import Settings
from workbench.errors import NotFoundError, ReadOnlyError

Bench = Callable[[str], Workbench]  # a person's Workbench by first name


def _a_model(bench: Workbench, name: str) -> int:
    """A model row of the person's (training is not what is tested here)."""
    with bench.catalog.transaction() as session:
        model = Model(
            owner=bench.catalog.user, name=name, arch="resnet18", classes=["cat", "dog"], image_size=16
        )
        session.add(model)
        session.flush()
        return model.id


def _scenario(bench_of: Bench, tmp_path: Path) -> None:
    alice, bob, carol = bench_of("alice"), bench_of("bob"), bench_of("carol")
    a = alice.catalog.user
    alice.ingest(builders.image_folder(tmp_path / "pets", {"cat": 3, "dog": 2}), "pets", processes=1)
    model_id, published_id = _a_model(alice, "shared"), _a_model(alice, "for everyone")
    alice.publish(published_id)
    assert bob.datasets() == [] and [m["id"] for m in bob.models()] == [published_id]

    assert alice.share_dataset("pets", [bob.catalog.user]) == [bob.catalog.user]
    alice.share_model(model_id, [bob.catalog.user])
    (listed,) = bob.datasets()
    assert (listed.name, listed.images, listed.owner) == (f"{a}/pets", 5, a)
    assert bob.dataset(f"{a}/pets").labels() == {"cat": 3, "dog": 2}
    assert {m["id"]: m.get("owner") for m in bob.models()} == {model_id: a, published_id: a}
    assert bob.model(model_id).name == "shared"

    with pytest.raises(ReadOnlyError, match=f"belongs to {a} and is shared with you read-only"):
        bob.delete_dataset(f"{a}/pets")
    with pytest.raises(ReadOnlyError, match=f"only {a} can change or delete it"):
        bob.delete_model(model_id)
    with pytest.raises(ReadOnlyError):
        bob.publish(model_id)
    with pytest.raises(ReadOnlyError):
        bob.share_dataset(f"{a}/pets", [carol.catalog.user])
    assert carol.datasets() == [] and [m["id"] for m in carol.models()] == [published_id]
    with pytest.raises(NotFoundError):
        carol.dataset(f"{a}/pets")

    alice.unshare_dataset("pets", [bob.catalog.user])
    assert bob.datasets() == []
    assert alice.delete_dataset("pets") == 5 and alice.datasets() == []


def test_sharing_on_one_catalog(settings: Settings, tmp_path: Path) -> None:
    """Different users of one catalog: the application's queries keep them apart."""
    opened: list[Workbench] = []

    def bench_of(name: str) -> Workbench:
        opened.append(Workbench(settings.with_overrides(user=name)))
        return opened[-1]

    try:
        _scenario(bench_of, tmp_path)
    finally:
        for bench in opened:
            bench.close()


@pytest.fixture
def team() -> Iterator[Team]:
    with team_database(("alice", "bob", "carol")) as team:
        yield team


@pytest.mark.postgres
def test_sharing_on_a_team_server_and_bobs_sql_changes_nothing_shared(team: Team, tmp_path: Path) -> None:
    opened: list[Workbench] = []

    def bench_of(name: str) -> Workbench:
        opened.append(Workbench(team.settings(name, tmp_path / "data")))
        return opened[-1]

    try:
        _scenario(bench_of, tmp_path)
        alice = opened[0]
        alice.ingest(builders.image_folder(tmp_path / "owls", {"owl": 2}), "owls", processes=1)
        alice.share_dataset("owls", [team.user("bob")])
        bob = create_engine(team.url(team.user("bob")))
        with bob.connect() as connection:
            assert connection.execute(text("SELECT count(*) FROM images")).scalar() == 2  # he reads them
            for statement in ("UPDATE datasets SET name = 'mine'", "UPDATE images SET label = 'cat'",
                              "DELETE FROM images", "DELETE FROM datasets", "DELETE FROM shares",
                              "UPDATE models SET published = false"):  # fmt: skip
                assert connection.execute(text(statement)).rowcount == 0, statement  # type: ignore[attr-defined]
            connection.rollback()
        bob.dispose()
        assert alice.dataset("owls").count() == 2
    finally:
        for bench in opened:
            bench.close()
