"""Catalog benchmark: ingest throughput, bulk metadata inserts and View query latency.

Run from the repository root (Postgres must be reachable; a throwaway ``bench_<random>``
database is created there and dropped at the end, even on failure)::

    PYTHONPATH=. python benchmarks/bench_catalog.py           # 10,000 images, 1,000,000 PG rows
    PYTHONPATH=. python benchmarks/bench_catalog.py --quick   # a smoke run in under a minute

``--quick`` ingests 500 images and loads 10,000 rows into each database, 10 repetitions each:
its latencies do not test the targets, which are for a million rows (``--pg-rows`` overrides).

Every figure is one JSON line ``{"figure", "value", "unit", "baseline", "ratio", "target", ...}``;
the last line is a JSON summary. ``--markdown FILE`` also writes the results as a Markdown table.
docs/benchmarks.md says what each figure measures and how to read it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import io
import json
import os
import platform
import secrets
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image as PILImage
from sqlalchemy import create_engine, delete, func, select

from workbench.api import Workbench
from workbench.catalog import Catalog, Dataset, Image, db
from workbench.catalog.bulk import insert_images
from workbench.catalog.summaries import refresh_label_counts
from workbench.config import Settings
from workbench.views import ImageRecord, View

USER, DATASET, BATCH, SAMPLE = "bench", "styles", 50_000, 1_000
# fmt: off
# label (articleType) -> masterCategory/subCategory, most common first, as in a styles.csv.
LABELS = {
    "Tshirts": "Apparel/Topwear", "Shirts": "Apparel/Topwear", "Casual Shoes": "Footwear/Shoes",
    "Watches": "Accessories/Watches", "Sports Shoes": "Footwear/Shoes", "Kurtas": "Apparel/Topwear",
    "Tops": "Apparel/Topwear", "Handbags": "Accessories/Bags", "Heels": "Footwear/Shoes",
    "Sunglasses": "Accessories/Eyewear", "Wallets": "Accessories/Wallets",
    "Flip Flops": "Footwear/Flip Flops", "Sandals": "Footwear/Sandal", "Briefs": "Apparel/Innerwear",
    "Belts": "Accessories/Belts",
    "Backpacks": "Accessories/Bags", "Socks": "Accessories/Socks", "Formal Shoes": "Footwear/Shoes",
    "Perfume": "Personal Care/Fragrance", "Jeans": "Apparel/Bottomwear", "Shorts": "Apparel/Bottomwear",
    "Trousers": "Apparel/Bottomwear", "Flats": "Footwear/Shoes", "Bra": "Apparel/Innerwear",
    "Dresses": "Apparel/Dress", "Sarees": "Apparel/Saree", "Earrings": "Accessories/Jewellery",
    "Deodorant": "Personal Care/Fragrance", "Nail Polish": "Personal Care/Nails",
    "Lipstick": "Personal Care/Lips", "Track Pants": "Apparel/Bottomwear", "Clutches": "Accessories/Bags",
    "Sweatshirts": "Apparel/Topwear", "Caps": "Accessories/Headwear", "Sweaters": "Apparel/Topwear",
    "Ties": "Accessories/Ties", "Jackets": "Apparel/Topwear", "Innerwear Vests": "Apparel/Innerwear",
    "Kurtis": "Apparel/Topwear", "Tunics": "Apparel/Topwear",
}
COLOURS = [
    "Black", "White", "Blue", "Brown", "Grey", "Red", "Green", "Pink", "Navy", "Purple", "Silver", "Yellow",
    "Beige", "Gold", "Maroon", "Orange", "Olive", "Multi", "Cream", "Steel", "Charcoal", "Peach", "Lavender",
    "Khaki", "Teal", "Magenta", "Tan", "Mustard", "Rust", "Copper", "Bronze", "Turquoise", "Burgundy",
    "Mauve", "Rose", "Nude", "Skin", "Taupe", "Fluorescent", "Metallic",
]
BRANDS = ["Puma", "Nike", "Adidas", "Reebok", "Fila", "Lotto", "Titan", "Fossil", "Fabindia", "Levis"]
CHOICES: dict[str, tuple[list[Any], list[int]]] = {  # values and their weights
    "gender": (["Men", "Women", "Unisex", "Boys", "Girls"], [50, 42, 4, 2, 2]),
    "season": (["Summer", "Fall", "Winter", "Spring"], [48, 26, 19, 7]),
    "usage": (["Casual", "Sports", "Ethnic", "Formal", "Party"], [78, 9, 7, 5, 1]),
    "year": (list(range(2008, 2020)), [1, 2, 4, 8, 16, 28, 20, 14, 10, 6, 3, 1]),
}
ATTRIBUTE_TYPES = {"year": "int"} | dict.fromkeys(
    ["gender", "masterCategory", "subCategory", "articleType", "baseColour", "season", "usage",
     "productDisplayName"], "str")
# fmt: on
RESULTS: list[dict[str, Any]] = []
Timed = Callable[[int], object]  # called with the repetition number


def emit(figure: str, value: float, unit: str, *, baseline: float | None = None,
         ratio: float | None = None, target: str | None = None, passed: bool | None = None,
         **extra: Any) -> None:  # fmt: skip
    def rounded(x: float | None) -> float | None:
        return None if x is None else float(f"{x:.4g}")  # 4 significant digits

    line = {"figure": figure, "value": rounded(value), "unit": unit, "baseline": rounded(baseline),
            "ratio": rounded(ratio), "target": target, "pass": passed, **extra}  # fmt: skip
    RESULTS.append(line)
    print(json.dumps(line), flush=True)


# -- figure 1: ingest against the read+hash+header floor ------------------------------------------
def write_images(root: Path, n: int, rng: np.random.Generator) -> list[Path]:
    """Distinct small JPEGs in 10 label folders: a two-colour gradient at a random angle plus noise."""
    paths = []
    for i in range(n):
        w, h = (int(v) for v in rng.integers(64, 129, size=2))
        y, x = np.mgrid[0:h, 0:w]
        a = rng.random()
        t = (a * x / w + (1 - a) * y / h)[..., None]
        c0, c1 = rng.integers(0, 256, size=(2, 3))
        pixels = c0 * (1 - t) + c1 * t + rng.normal(0, 10, size=(h, w, 3))
        path = root / f"class_{i % 10}" / f"img_{i:05d}.jpg"
        path.parent.mkdir(parents=True, exist_ok=True)
        PILImage.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)
        paths.append(path)
    return paths


def floor_pass(paths: list[Path]) -> float:
    """Read, sha256 and parse the header of every file; store nothing. Returns images/s."""
    start = time.perf_counter()
    for path in paths:
        data = path.read_bytes()
        hashlib.sha256(data).hexdigest()
        PILImage.open(io.BytesIO(data)).size  # noqa: B018 - the header only, no decode
    return len(paths) / (time.perf_counter() - start)


def bench_ingest(tmp: Path, n: int, rng: np.random.Generator, rounds: int) -> None:
    """Ingests into fresh catalogs alternating with floor passes; the median per-round ratio
    counts (each against the floor timed just before and after it), so drift hits both sides."""
    paths = write_images(tmp / "images", n, rng)
    os.sync()  # the generated files' writeback must not land inside either measurement
    floor_pass(paths)  # warms the page cache (and Pillow's plugins) for both measurements
    floors, rates, ratios = [floor_pass(paths)], [], []
    for k in range(rounds):
        wb = Workbench(Settings(data_dir=tmp / f"data{k}", database_url="", user=USER))
        try:
            wb.catalog.engine  # noqa: B018 - creating the schema is not part of an ingest
            start = time.perf_counter()
            report = wb.ingest(tmp / "images", "generated")
            rates.append(n / (time.perf_counter() - start))
        finally:
            wb.close()
        assert report.ingested == n, report.summary()
        floors.append(floor_pass(paths))
        ratios.append(rates[-1] / (2 / (1 / floors[-2] + 1 / floors[-1])))
    ratio = statistics.median(ratios)
    emit("ingest, embedded SQLite", statistics.median(rates), "images/s", baseline=statistics.median(floors),
         ratio=ratio, target=">= 0.5", passed=ratio >= 0.5, n=n,
         ratios=[round(r, 3) for r in ratios])  # fmt: skip


# -- figures 2 and 3: bulk rows and View queries ----------------------------------------------------
def zipf(n: int, s: float) -> np.ndarray:
    weights = 1.0 / np.arange(1, n + 1) ** s
    return weights / weights.sum()


def styles_rows(rng: np.random.Generator, dataset_id: int, first: int, n: int) -> list[dict[str, Any]]:
    """``n`` image rows with styles.csv attributes; labels and colours Zipf-skewed (a long tail)."""
    labels = list(LABELS)
    label = rng.choice(len(labels), n, p=zipf(len(labels), 1.1)).tolist()
    colour = rng.choice(len(COLOURS), n, p=zipf(len(COLOURS), 1.0)).tolist()
    picks = {k: rng.choice(len(v), n, p=np.array(w) / sum(w)).tolist() for k, (v, w) in CHOICES.items()}
    brand = rng.integers(0, len(BRANDS), n).tolist()
    width, height = rng.integers(60, 1801, size=(2, n)).tolist()
    size = rng.integers(2_000, 400_000, n).tolist()
    split = rng.choice(["train", "val", "test"], n, p=[0.8, 0.1, 0.1]).tolist()
    hexes = rng.bytes(32 * n).hex()
    rows = []
    for i in range(n):
        article, colour_name = labels[label[i]], COLOURS[colour[i]]
        master, sub = LABELS[article].split("/")
        attrs = {k: CHOICES[k][0][picks[k][i]] for k in CHOICES}
        name = f"{BRANDS[brand[i]]} {attrs['gender']} {colour_name} {article}"
        attrs |= {"masterCategory": master, "subCategory": sub, "articleType": article,
                  "baseColour": colour_name, "productDisplayName": name}  # fmt: skip
        rows.append({"dataset_id": dataset_id, "owner": USER, "sha256": hexes[64 * i : 64 * i + 64],
                     "label": article, "split": split[i], "width": width[i], "height": height[i],
                     "format": "JPEG", "bytes": size[i], "original_name": f"{first + i}.jpg",
                     "attributes": attrs})  # fmt: skip
    return rows


def load_rows(catalog: Catalog, n: int, rng: np.random.Generator, vacuum: bool) -> float:
    """Create the dataset, insert ``n`` rows in batches, (VACUUM) ANALYZE; returns rows/s inserted."""
    with catalog.transaction() as session:
        dataset = Dataset(owner=USER, name=DATASET, kind="source", status="ready", source="generated",
                          attribute_types=ATTRIBUTE_TYPES)  # fmt: skip
        session.add(dataset)
        session.flush()
        dataset_id = dataset.id
    elapsed = 0.0
    for first in range(0, n, BATCH):
        rows = styles_rows(rng, dataset_id, first, min(BATCH, n - first))  # generating is not timed
        start = time.perf_counter()
        with catalog.transaction() as session:
            assert insert_images(session, rows) == len(rows)
        elapsed += time.perf_counter() - start
    with catalog.transaction() as session:
        refresh_label_counts(session, dataset_id)  # what an ingest does when it finishes
    postgres = catalog.engine.dialect.name == "postgresql"
    analyze = ("VACUUM ANALYZE images" if vacuum else "ANALYZE images") if postgres else "ANALYZE"
    with catalog.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.exec_driver_sql(analyze)
    return n / elapsed


def p50_ms(run: Timed, reps: int, warmup: int = 3) -> float:
    """Median wall time of ``run(k)`` for k = 0..reps-1, after ``warmup`` untimed calls."""
    for k in range(warmup):
        run(-1 - k)
    times = []
    for k in range(reps):
        start = time.perf_counter()
        run(k)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def random_sample(catalog: Catalog, dataset_id: int) -> list[ImageRecord]:
    """What the sample-key walk replaces: ORDER BY random() LIMIT n, same columns, same records."""
    columns = [getattr(Image, name) for name in ImageRecord._fields]
    query = select(*columns).where(Image.dataset_id == dataset_id).order_by(func.random()).limit(SAMPLE)
    with catalog.sessions() as session:
        return [ImageRecord._make(row) for row in session.execute(query).all()]


def bench_queries(catalog: Catalog, where: str, n: int, reps: int, targets: bool) -> None:
    labels = list(LABELS)
    view = View(catalog, DATASET)
    common = view.filter(label=labels[:2], season="Summer", width__gte=60)
    rare = view.filter(label=labels[-1], season="Winter", baseColour=COLOURS[3])
    everything = view.filter(width__gte=0)  # the same images, but counted by a GROUP BY
    matches = {"common": common.count(), "rare": rare.count()}
    assert len(common.page(0)) == 100 and len(rare.page(0)) == matches["rare"], matches
    assert view.labels() == everything.labels() and sum(view.labels().values()) == n
    # (name, timed call, target in ms, reference call or None, extra keys); a new seed each sample.
    cases: list[tuple[str, Timed, float, Timed | None, dict[str, Any]]] = [
        ("page 0, common 3-condition filter", lambda k: common.page(0), 5, None,
         {"matches": matches["common"]}),
        ("page 0, selective filter", lambda k: rare.page(0), 20, None, {"matches": matches["rare"]}),
        ("count by label", lambda k: view.labels(), 100, lambda k: everything.labels(), {}),
        (f"seeded sample of {SAMPLE}", lambda k: view.sample(SAMPLE, seed=k), 20,
         lambda k: random_sample(catalog, view.dataset_id), {}),
    ]  # fmt: skip
    for name, run, limit, reference, extra in cases:
        # A reference is slow and only for comparison: a third of the repetitions.
        baseline = None if reference is None else p50_ms(reference, max(3, reps // 3), warmup=1)
        ms = p50_ms(run, reps)
        ratio = ms / baseline if baseline else ms / limit if targets else None
        emit(f"{where}: {name}", ms, "ms p50", baseline=baseline, ratio=ratio,
             target=f"< {limit:g} ms" if targets else None, passed=ms < limit if targets else None,
             n=n, **extra)  # fmt: skip


def bench_delete(catalog: Catalog, where: str, n: int, rng: np.random.Generator) -> None:
    """A failed ingest's undo in a big catalog: delete a dataset of 1,000 images and its rows,
    which makes the database look up each image's augmented copies and predictions."""
    with catalog.transaction() as session:
        doomed = Dataset(owner=USER, name="doomed", kind="source", status="ingesting", source="generated",
                         attribute_types=ATTRIBUTE_TYPES)  # fmt: skip
        session.add(doomed)
        session.flush()
        insert_images(session, styles_rows(rng, doomed.id, 0, 1_000))
    start = time.perf_counter()
    with catalog.transaction() as session:
        session.execute(delete(Image).where(Image.dataset_id == doomed.id))
        session.execute(delete(Dataset).where(Dataset.id == doomed.id))
    ms = (time.perf_counter() - start) * 1000
    emit(f"{where}: delete a dataset of 1,000 images", ms, "ms", n=n)


@contextmanager
def throwaway_database(server: str) -> Iterator[str]:
    """A fresh database ``bench_<random>`` on ``server``, dropped on the way out whatever happened."""
    name = f"bench_{secrets.token_hex(5)}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
        try:
            yield f"{server}/{name}"
        finally:
            with admin.connect() as connection:
                connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


def bench_postgres(args: argparse.Namespace, tmp: Path, rng: np.random.Generator) -> str:
    """Figure 2; returns the server's version."""
    with throwaway_database(args.pg) as url:
        engine = db.make_engine(url)
        db.upgrade(engine)
        with engine.connect() as connection:
            version = str(connection.exec_driver_sql("SHOW server_version").scalar_one())
        engine.dispose()
        catalog = Catalog(Settings(data_dir=tmp / "pg", database_url=url, user=USER))
        try:
            rate = load_rows(catalog, args.pg_rows, rng, args.vacuum)
            emit("postgres: bulk metadata insert", rate, "rows/s", ratio=rate / 50_000,
                 target=">= 50000 rows/s", passed=rate >= 50_000, n=args.pg_rows, batch=BATCH)  # fmt: skip
            bench_queries(catalog, "postgres", args.pg_rows, args.reps, targets=True)
            bench_delete(catalog, "postgres", args.pg_rows, rng)
        finally:
            catalog.dispose()
    return version


def bench_sqlite(args: argparse.Namespace, tmp: Path, rng: np.random.Generator) -> None:
    """Figure 3: the same on the embedded SQLite, reported without targets (those are for Postgres)."""
    catalog = Catalog(Settings(data_dir=tmp / "sqlite", database_url="", user=USER))
    try:
        rate = load_rows(catalog, args.sqlite_rows, rng, args.vacuum)
        emit("sqlite: bulk metadata insert", rate, "rows/s", n=args.sqlite_rows, batch=BATCH)
        bench_queries(catalog, "sqlite", args.sqlite_rows, args.reps, targets=False)
        bench_delete(catalog, "sqlite", args.sqlite_rows, rng)
    finally:
        catalog.dispose()


# -- reporting ------------------------------------------------------------------------------------
def machine(pg_version: str) -> dict[str, str]:
    def first(path: str, key: str) -> str:
        return next((ln.split(":", 1)[1].strip() for ln in Path(path).read_text().splitlines()
                     if ln.startswith(key)), "?")  # fmt: skip

    ram = int(first("/proc/meminfo", "MemTotal").split()[0]) / 1024**2
    return {"nproc": str(os.cpu_count()), "cpu": first("/proc/cpuinfo", "model name"),
            "ram": f"{ram:.1f} GiB", "postgres": pg_version, "python": platform.python_version(),
            "loadavg": " ".join(f"{x:.1f}" for x in os.getloadavg()),
            "date": dt.datetime.now().astimezone().isoformat(timespec="seconds")}  # fmt: skip


def markdown(info: dict[str, str], command: str) -> str:
    def cell(value: Any) -> str:
        return "—" if value is None else f"{value:,}" if isinstance(value, int | float) else str(value)

    keys = ("figure", "n", "value", "unit", "baseline", "ratio", "target")
    lines = [f"Command: `{command}`", "", "Machine: " + "; ".join(f"{k} {v}" for k, v in info.items()), "",
             "| " + " | ".join(keys) + " | result |", "|---" * (len(keys) + 1) + "|"]  # fmt: skip
    for r in RESULTS:
        result = {True: "pass", False: "**FAIL**", None: "reported"}[r["pass"]]
        lines.append("| " + " | ".join(cell(r.get(k)) for k in keys) + f" | {result} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="500 images, 10,000 rows, 10 repetitions")
    parser.add_argument("--pg", default="postgresql+psycopg2://postgres@127.0.0.1:5432",
                        help="Postgres server URL without a database name")  # fmt: skip
    parser.add_argument("--pg-rows", type=int, help="override the number of Postgres rows")
    parser.add_argument("--vacuum", action="store_true", help="VACUUM ANALYZE after loading, not ANALYZE")
    parser.add_argument("--markdown", type=Path, help="also write the results as a Markdown table here")
    args = parser.parse_args()
    images, rows, args.sqlite_rows, args.reps = (
        (500, 10_000, 10_000, 10) if args.quick else (10_000, 1_000_000, 100_000, 30)
    )
    args.pg_rows = args.pg_rows or rows
    rng = np.random.default_rng(20240601)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bench_catalog_") as tmp:
        bench_ingest(Path(tmp), images, rng, 1 if args.quick else 3)
        pg_version = bench_postgres(args, Path(tmp), rng)
        bench_sqlite(args, Path(tmp), rng)
    checked = [r for r in RESULTS if r["pass"] is not None]
    failed = [r["figure"] for r in checked if not r["pass"]]
    info = machine(pg_version)
    summary = {"summary": f"{len(checked) - len(failed)}/{len(checked)} targets met", "failed": failed,
               "seconds": round(time.perf_counter() - started, 1), "machine": info}  # fmt: skip
    print(json.dumps(summary), flush=True)
    if args.markdown:
        flags = [a for a in sys.argv[1:] if a not in ("--markdown", str(args.markdown))]
        args.markdown.write_text(markdown(info, " ".join(["python benchmarks/bench_catalog.py", *flags])))


if __name__ == "__main__":
    main()
