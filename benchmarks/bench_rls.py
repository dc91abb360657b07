"""What row-level security costs the catalog's common queries on a team server.

Run from the repository root (Postgres must be reachable; a throwaway database and roles are made
and dropped, as the tests' team database)::

    PYTHONPATH=. python benchmarks/bench_rls.py [--rows 200000] [--reps 15]

Two people with ``--rows`` image rows each (styles.csv-like attributes, as bench_catalog). The
same View queries over alice's dataset, three ways, rounds alternated in one run:

- **baseline**: the catalog's owner (a superuser, which no policy binds), asking as alice: the
  application's owner filters alone, what every deployment before the team server ran;
- **her own login**: alice's role, every policy applied (her server on a team server);
- **a worker acting as her**: the service role with ``SET LOCAL ROLE`` in each transaction (a
  job of hers).

Each figure is the median of ``--reps`` calls, one JSON line with its ratio to the baseline.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
from sqlalchemy import text

from benchmarks.bench_catalog import ATTRIBUTE_TYPES, DATASET, emit, styles_rows
from tests.team import team_database
from workbench.catalog import Catalog, Dataset
from workbench.catalog.bulk import insert_images
from workbench.catalog.summaries import refresh_label_counts
from workbench.config import Settings
from workbench.views import View

BATCH = 50_000


def seed(admin: Catalog, owner: str, rows: int, rng: np.random.Generator) -> None:
    with admin.transaction() as session:
        dataset = Dataset(
            owner=owner, name=DATASET, kind="source", status="ready", source="generated",
            attribute_types=ATTRIBUTE_TYPES,
        )  # fmt: skip
        session.add(dataset)
        session.flush()
        dataset_id = dataset.id
    for first in range(0, rows, BATCH):
        batch = styles_rows(rng, dataset_id, first, min(BATCH, rows - first))
        for row in batch:
            row["owner"] = owner
        with admin.transaction() as session:
            insert_images(session, batch)
    with admin.transaction() as session:
        refresh_label_counts(session, dataset_id)


def queries(view: View) -> dict[str, Callable[[], object]]:
    common = view.filter(label=["Tshirts", "Shirts"], season="Summer", width__gte=60)
    rare = view.filter(label="Belts", season="Winter")
    return {
        "page 0, common filter": lambda: common.page(0),
        "page 0, selective filter": lambda: rare.page(0),
        "count by label": view.labels,
        "count of a filter": common.count,
        "seeded sample of 1,000": lambda: view.sample(1000, seed=1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000, help="image rows per person")
    parser.add_argument("--reps", type=int, default=15)
    args = parser.parse_args()
    rng = np.random.default_rng(7)
    with team_database(("alice", "bob")) as team:
        alice = team.user("alice")
        admin = Catalog(Settings(database_url=team.admin_url, user=alice))
        for name in ("alice", "bob"):
            seed(admin, team.user(name), args.rows, rng)
        with admin.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE images"))
        service = Catalog(Settings(database_url=team.url(team.service), user="worker"), service=True)
        sides = {
            "baseline (owner's login, application filters)": admin,
            "her own login (policies)": team.catalog("alice", admin.settings.data_dir),
            "a worker acting as her (policies, SET LOCAL ROLE)": service.acting_as(alice),
        }
        cases = {side: queries(View(catalog, DATASET)) for side, catalog in sides.items()}
        times: dict[tuple[str, str], list[float]] = {}
        for round_ in range(args.reps + 2):  # two warm-up rounds, then sides alternated
            for side, calls in cases.items() if round_ % 2 else reversed(cases.items()):
                for name, call in calls.items():
                    start = time.perf_counter()
                    call()
                    if round_ >= 2:
                        times.setdefault((side, name), []).append(time.perf_counter() - start)
        baseline_side = next(iter(sides))
        for name in cases[baseline_side]:
            baseline = statistics.median(times[(baseline_side, name)]) * 1000
            for side in sides:
                ms = statistics.median(times[(side, name)]) * 1000
                emit(f"{name}: {side}", ms, "ms p50", baseline=baseline, ratio=ms / baseline, rows=args.rows)
        for catalog in (admin, service, *sides.values()):
            catalog.dispose()


if __name__ == "__main__":
    main()
