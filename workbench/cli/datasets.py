"""Commands on datasets: ingest, datasets, show, stats, augment, demo."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from workbench.api import Workbench
from workbench.cli.common import (
    Commands,
    add_follow_arguments,
    add_view_arguments,
    command,
    follow,
    print_json,
    view_of,
)


def register(commands: Commands) -> None:
    ingest = command(commands, "ingest", _ingest, "bring a folder or zip of labelled images into the catalog")
    ingest.add_argument("path", help="an ImageFolder directory (root/<label>/<file>), or a zip of one")
    ingest.add_argument("--name", required=True, help="the dataset to create or add to")
    ingest.add_argument("--labels-csv", help="a CSV with one row per image (image file <id>.<ext>)")
    ingest.add_argument("--label-column", help="the CSV column holding the label")
    ingest.add_argument("--id-column", default="id", help="the CSV column naming the image (default: id)")
    ingest.add_argument("--split", help="train,val[,test] fractions, e.g. 0.8,0.1,0.1 (stratified)")
    ingest.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    ingest.add_argument("--append", action="store_true", help="add to the dataset if it exists already")
    add_then_predict_argument(ingest, "ingest")
    add_follow_arguments(ingest, "the ingest as a job")

    listing = command(commands, "datasets", _datasets, "list your datasets")
    listing.add_argument("--json", action="store_true")

    show = command(commands, "show", _show, "count and list a dataset's images")
    add_view_arguments(show)
    show.add_argument("--json", action="store_true")
    show.add_argument("--limit", type=int, default=10, help="images to list (default: 10)")
    show.add_argument("--hashes", action="store_true", help="with --json: every image's sha256")

    stats = command(commands, "stats", _stats, "class balance, sizes and attributes of a dataset")
    add_view_arguments(stats)
    stats.add_argument("--json", action="store_true")
    stats.add_argument("--plot", help="write the plots to this PNG file")

    augment = command(
        commands, "augment", _augment, "augment a dataset into a new one (a job on the imagery queue)"
    )
    augment.add_argument("name", help="the dataset to augment")
    augment.add_argument("--filter", help="a JSON filter: augment only these images")
    augment.add_argument(
        "--recipe", required=True, help='JSON, e.g. \'{"hflip": 0.5, "rotate": 15}\', or a .json file'
    )
    augment.add_argument("--copies", type=int, default=1, help="augmented copies of each image (default: 1)")
    augment.add_argument(
        "--seed", type=int, default=0, help="the same seed gives the same images (default: 0)"
    )
    augment.add_argument("--name", dest="new_name", required=True, help="the new dataset's name")
    add_then_predict_argument(augment, "augmentation")
    add_follow_arguments(augment)

    demo = command(commands, "demo", _demo, "ingest scikit-learn's digits into the catalog and show them")
    demo.add_argument("--dir", help="where to write the digit images (default: DATA_DIR/demo)")


def add_then_predict_argument(parser: argparse.ArgumentParser, step: str) -> None:
    parser.add_argument(
        "--then-predict", metavar="MODEL",
        help=f"once the {step} succeeds, predict the new dataset with MODEL (an id, your model's "
        "name or a published one's): one job of two steps",
    )  # fmt: skip


def _ingest(workbench: Workbench, args: argparse.Namespace) -> int:
    if args.no_wait or not workbench.settings.embedded or args.then_predict:
        return _ingest_job(workbench, args)
    from tqdm import tqdm

    with tqdm(total=0, unit="img", desc=f"ingest {args.name}", disable=args.json or None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = workbench.ingest(
            args.path, args.name, labels_csv=args.labels_csv, label_column=args.label_column,
            id_column=args.id_column, split=args.split, seed=args.seed, progress=progress,
            append=args.append,
        )  # fmt: skip
    return _print_report(report.to_dict(), report.summary(), args.json)


def _ingest_job(workbench: Workbench, args: argparse.Namespace) -> int:
    """Ingest on a worker (the imagery queue): always with a broker, or when asked (--no-wait)."""
    options = {"labels_csv": args.labels_csv, "label_column": args.label_column,
               "id_column": args.id_column, "split": args.split, "seed": args.seed,
               "append": args.append}  # fmt: skip
    job = workbench.ingest_job(args.path, args.name, then_predict=args.then_predict, **options)
    info = follow(job, "ingest", args)
    return 0 if info is None else _print_report(info.result or {}, info.message, args.json)


def _print_report(report: dict[str, Any], summary: str, as_json: bool) -> int:
    if as_json:
        print_json(report)
        return 0
    print(summary)
    for skipped in report.get("skipped", []):
        print(f"  skipped {skipped['file']}: {skipped['reason']}")
    for issue in report.get("csv_issues", []):
        print(f"  CSV {issue['row']}: {issue['reason']}")
    return 0


def _datasets(workbench: Workbench, args: argparse.Namespace) -> int:
    rows = workbench.datasets()
    if args.json:
        print_json([row.to_dict() for row in rows])
    elif not rows:
        print("no datasets yet: bring one with `workbench ingest PATH --name NAME`")
    for row in [] if args.json else rows:
        shared = f"  shared by {row.owner}, read-only" if row.owner else ""
        print(f"{row.name:<24} {row.images:>9,} images {row.labels:>5} labels  {row.kind}{shared}")
    return 0


def _show(workbench: Workbench, args: argparse.Namespace) -> int:
    view = view_of(workbench, args)
    count, labels = view.count(), view.labels()
    if args.json:
        out: dict[str, Any] = {"dataset": args.name, "filter": view.spec, "count": count, "labels": labels}
        out["images"] = [record._asdict() for record in view.page(0, args.limit)]
        if args.hashes:
            out["sha256"] = [record.sha256 for record in view]
        print_json(out)
        return 0
    print(f"{args.name} {json.dumps(view.spec)}: {count:,} images")
    for label, n in labels.items():
        print(f"  {label:<24} {n:>9,}")
    for record in view.page(0, args.limit):
        print(f"  #{record.id} {record.label} {record.width}x{record.height} {record.original_name}")
    return 0


def _stats(workbench: Workbench, args: argparse.Namespace) -> int:
    stats = view_of(workbench, args).stats()
    if args.plot:
        stats.plot().savefig(args.plot, dpi=100)
    if args.json:
        print_json(stats.to_dict())
    else:
        print(stats.summary())
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0


def _augment(workbench: Workbench, args: argparse.Namespace) -> int:
    """A derived dataset as a job on the imagery queue; the request is checked before queueing."""
    recipe = Path(args.recipe).read_text() if args.recipe.endswith(".json") else args.recipe
    view = view_of(workbench, args)
    job = workbench.augment(
        view, recipe, copies=args.copies, seed=args.seed, name=args.new_name, then_predict=args.then_predict
    )
    info = follow(job, "augmentation", args)
    if info is not None:
        print_json(info.result) if args.json else print(info.message)
    return 0


def _demo(workbench: Workbench, args: argparse.Namespace) -> int:
    from workbench.demo import run_demo

    return run_demo(workbench, Path(args.dir) if args.dir else None)
