"""The ``workbench`` command. Bad input: exit 2 and one line on stderr; ``--json`` for machines."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from workbench.api import Workbench
from workbench.errors import WorkbenchError
from workbench.jobs import Job, JobInfo

log = logging.getLogger("workbench")
Handler = Callable[[Workbench, argparse.Namespace], int]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(message)s")
    workbench: Workbench | None = None
    try:
        workbench = Workbench()
        return args.handler(workbench, args)
    except WorkbenchError as exc:
        print(f"workbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("workbench: interrupted", file=sys.stderr)
        return 130
    finally:
        if workbench is not None:
            workbench.close()


def _ingest(workbench: Workbench, args: argparse.Namespace) -> int:
    if args.no_wait or not workbench.settings.embedded:
        return _ingest_job(workbench, args)
    from tqdm import tqdm

    with tqdm(total=0, unit="img", desc=f"ingest {args.name}", disable=args.json or None) as bar:

        def progress(done: int, total: int) -> None:
            bar.total = total
            bar.update(done - bar.n)

        report = workbench.ingest(
            args.path,
            args.name,
            labels_csv=args.labels_csv,
            label_column=args.label_column,
            id_column=args.id_column,
            split=args.split,
            seed=args.seed,
            progress=progress,
        )
    return _print_report(report.to_dict(), report.summary(), args.json)


def _ingest_job(workbench: Workbench, args: argparse.Namespace) -> int:
    """Ingest on a worker (the imagery queue): always with a broker, or when asked (--no-wait)."""
    options = {"labels_csv": args.labels_csv, "label_column": args.label_column,
               "id_column": args.id_column, "split": args.split, "seed": args.seed}  # fmt: skip
    info = _follow(workbench.ingest_job(args.path, args.name, **options), "ingest", args)
    return 0 if info is None else _print_report(info.result or {}, info.message, args.json)


def _follow(job: Job, what: str, args: argparse.Namespace) -> JobInfo | None:
    """With --no-wait, print the job's id and return None; else wait (a progress bar on a
    terminal) and return how it ended, raising when it did not succeed."""
    if args.no_wait:
        _print_json({"job": job.id}) if args.json else print(f"{what} queued as job {job.id}")
        return None
    info = job.wait(show_progress=not args.json and None)
    if info.state != "succeeded":
        raise WorkbenchError(f"{what} job {job.id} {info.state}: {info.error or info.message}")
    return info


def _print_report(report: dict[str, Any], summary: str, as_json: bool) -> int:
    if as_json:
        _print_json(report)
        return 0
    print(summary)
    for skipped in report.get("skipped", []):
        print(f"  skipped {skipped['file']}: {skipped['reason']}")
    for issue in report.get("csv_issues", []):
        print(f"  CSV {issue['row']}: {issue['reason']}")
    return 0


def _augment(workbench: Workbench, args: argparse.Namespace) -> int:
    """A derived dataset as a job on the imagery queue; the request is checked before queueing."""
    recipe = Path(args.recipe).read_text() if args.recipe.endswith(".json") else args.recipe
    job = _view(workbench, args).augment(recipe, copies=args.copies, seed=args.seed, name=args.new_name)
    info = _follow(job, "augmentation", args)
    if info is None:
        return 0
    _print_json(info.result) if args.json else print(info.message)
    return 0


def _train(workbench: Workbench, args: argparse.Namespace) -> int:
    params = {"arch": args.arch, "epochs": args.epochs, "image_size": args.image_size,
              "batch_size": args.batch_size, "lr": args.lr, "seed": args.seed, "hflip": not args.no_hflip,
              "precision": args.precision, "name": args.model_name or args.name,
              "pretrained": args.pretrained, "freeze_epochs": args.freeze_epochs,
              "int8": args.int8}  # fmt: skip
    if args.augmented is not None:  # the flag alone: every augmented child of the dataset
        params["augmented"] = args.augmented or True
    info = _follow(workbench.train(_view(workbench, args), **params), "training", args)
    if info is None:
        return 0
    model = next(m for m in workbench.models() if m["id"] == (info.result or {}).get("model_id"))
    if args.json:
        _print_json(model)
    else:
        print(f"model {model['id']}: test accuracy {model['metrics']['accuracy']:.1%}; "
              f"export in {model['export_dir']}")  # fmt: skip
        if "int8" in model["metrics"]:
            int8 = model["metrics"]["int8"]
            print(f"int8 export {int8['file']}: test accuracy {int8['accuracy']:.1%} "
                  f"({int8['accuracy_change']:+.1%})")  # fmt: skip
    return 0


def _models(workbench: Workbench, args: argparse.Namespace) -> int:
    from workbench.training import delete_model, set_published

    for model_id, published in [(args.publish, True), (args.unpublish, False)]:
        if model_id is not None:
            set_published(workbench.catalog, model_id, published)
    if args.delete is not None:
        delete_model(workbench.catalog, args.delete)
    models = workbench.models()
    if args.json:
        _print_json(models)
        return 0
    if not models:
        print("no models yet: train one with `workbench train DATASET`")
    for m in models:
        accuracy = m["metrics"].get("accuracy")
        shown = f"{accuracy:.1%}" if accuracy is not None else "—"
        print(f"{m['id']:>4} {m['name']:<20} {m['arch']:<18} accuracy {shown:>6}  {m['export_dir']}")
    return 0


def _compare(workbench: Workbench, args: argparse.Namespace) -> int:
    from workbench.training import compare_models

    rows = compare_models(workbench.catalog, args.models)
    if args.json:
        _print_json(rows)
        return 0
    header = ("id", "name", "arch", "size", "accuracy", "macro F1", "train s")
    print("{:>4} {:<16} {:<18} {:>4} {:>8} {:>8} {:>7}  same images".format(*header))
    for r in rows:
        m = r["metrics"]
        print(f"{r['id']:>4} {r['name'][:16]:<16} {r['arch']:<18} {r['image_size']:>4} "
              f"{m.get('accuracy', 0):>8.1%} {m.get('macro_f1', 0):>8.3f} {m.get('train_seconds', 0):>7.0f}  "
              f"{'yes' if r['same_training_images'] else 'no'}")  # fmt: skip
    return 0


def _export(workbench: Workbench, args: argparse.Namespace) -> int:
    import shutil

    from workbench.training import get_model

    model = get_model(workbench.catalog, args.model)
    if not model.export_dir:
        raise WorkbenchError(f"model {args.model} has no export")
    shutil.copytree(model.export_dir, args.out, dirs_exist_ok=True)
    print(f"model {args.model} exported to {args.out} (model.onnx, labels.json, preprocess.json)")
    return 0


def _predict(workbench: Workbench, args: argparse.Namespace) -> int:
    """Top-k labels of image files, in this process with ONNX Runtime (quick for a few images)."""
    from PIL import Image

    from workbench.ml.predict import OnnxPredictor
    from workbench.training import get_model

    if args.dataset:
        return _predict_view(workbench, args)
    if not args.images:
        raise WorkbenchError("give image files to classify, or --dataset NAME to predict a whole view")
    model = get_model(workbench.catalog, args.model)
    predictor = OnnxPredictor(Path(model.export_dir or ""))
    results = {}
    for path in args.images:
        try:
            with Image.open(path) as image:
                results[path] = predictor.top_k(image, args.top)
        except OSError as exc:
            raise WorkbenchError(f"{path}: not an image Pillow can read ({exc})") from exc
    if args.json:
        _print_json({path: [{"label": label, "score": score} for label, score in top]
                     for path, top in results.items()})  # fmt: skip
        return 0
    for path, top in results.items():
        print(path + ": " + ", ".join(f"{label} {score:.1%}" for label, score in top))
    return 0


def _predict_view(workbench: Workbench, args: argparse.Namespace) -> int:
    """A whole (filtered) dataset as a job on the inference queue; predictions go to the catalog."""
    args.name = args.dataset
    info = _follow(workbench.predict(args.model, _view(workbench, args)), "prediction", args)
    if info is None:
        return 0
    _print_json(info.result) if args.json else print(info.message)
    return 0


def _evaluate(workbench: Workbench, args: argparse.Namespace) -> int:
    """Evaluate a model on a (filtered) dataset as a job; the metrics are stored with the model."""
    from workbench.ml.metrics import confusion_figure
    from workbench.training import get_model

    view = _view(workbench, args)
    info = _follow(workbench.evaluate(args.model, view), "evaluation", args)
    if info is None:
        return 0
    metrics = get_model(workbench.catalog, args.model).metrics["evaluations"][view.to_json()]
    if args.plot:
        confusion_figure(metrics).savefig(args.plot, dpi=120)
    if args.json:
        _print_json(metrics)
        return 0
    top = next(key for key in metrics if key.startswith("top") and key.endswith("_accuracy"))
    top_k = f"{top.removesuffix('_accuracy')} {metrics[top]:.1%}"
    print(f"model {args.model} on {metrics['n']:,} images: accuracy {metrics['accuracy']:.1%}, "
          f"{top_k}, macro F1 {metrics['macro_f1']:.3f}")  # fmt: skip
    print(f"{'class':<24} {'precision':>9} {'recall':>7} {'f1':>6} {'n':>7}")
    for name, m in metrics["per_class"].items():
        scores = f"{m['precision']:>9.3f} {m['recall']:>7.3f} {m['f1']:>6.3f}"
        print(f"{name[:24]:<24} {scores} {m['support']:>7,}")
    for pair in metrics["most_confused"][:5]:
        print(f"confused: {pair['true']} taken for {pair['predicted']} {pair['count']} times")
    if metrics.get("unknown_labels"):
        print(f"{metrics['unknown_labels']:,} images have labels the model never learned (not scored)")
    if args.plot:
        print(f"confusion matrix written to {args.plot}")
    return 0


def _dashboard(workbench: Workbench, args: argparse.Namespace) -> int:
    """Voila serving notebooks/dashboard.ipynb on 127.0.0.1 until interrupted."""
    import subprocess

    from workbench.widgets.serve import prepare_root, voila_command

    root = prepare_root(workbench.settings)
    command = voila_command(
        root, port=args.port, open_browser=not args.no_browser, preheat=not args.no_preheat
    )
    print(f"dashboard on http://127.0.0.1:{args.port}/ (Ctrl-C stops it; log in {root / 'dashboard.log'})")
    try:
        return subprocess.call(command, cwd=root)
    except KeyboardInterrupt:
        return 0


def _jobs(workbench: Workbench, args: argparse.Namespace) -> int:
    rows = workbench.jobs.list(state=args.state, kind=args.kind)
    if args.json:
        _print_json([row.to_dict() for row in rows])
        return 0
    if not rows:
        print("no jobs")
    for row in rows:
        print(f"{row.id}  {row.kind:<8} {row.state:<9} {row.progress:>4.0%}  {row.message[:60]}")
    return 0


def _job(workbench: Workbench, args: argparse.Namespace) -> int:
    job = workbench.jobs.get(args.id)
    info = job.wait(show_progress=not args.json and None) if args.wait else job.info()
    if args.json:
        _print_json(info.to_dict())
        return 0
    print(f"{info.id}  {info.kind}  {info.state}  {info.progress:.0%}  {info.message}")
    if info.error:
        print(f"  error: {info.error}")
    if info.deliveries > 1:
        print(f"  started {info.deliveries} times (its worker was lost before)")
    return 0


def _abort(workbench: Workbench, args: argparse.Namespace) -> int:
    workbench.jobs.get(args.id).abort(force=args.force)
    if args.force:
        print(f"job {args.id} aborted (forced: its worker is told at its next write)")
    else:
        print(f"abort requested for job {args.id}; it stops at its next safe point")
    return 0


def _worker(workbench: Workbench, args: argparse.Namespace) -> int:
    """Run a worker in the foreground: Celery on the given queues, or the embedded local worker."""
    settings = workbench.settings
    if settings.embedded:
        from workbench.jobs.local import run_local_worker

        logging.getLogger().setLevel(logging.INFO)
        run_local_worker(settings)
        return 0
    import os

    queues = args.queues
    # Threads, not prefork: a job then forks its own process pool (ingest) or owns the device
    # (torch: no CUDA after fork), and the worker's main thread keeps answering the broker.
    command = [sys.executable, "-m", "celery", "-A", "workers.app", "worker", "-Q", queues,
               "-P", "threads", "-c", str(args.concurrency), "-n", f"{queues.split(',')[0]}@%h",
               "--loglevel", args.loglevel]  # fmt: skip
    workbench.close()
    os.execvp(command[0], command)


def _report(workbench: Workbench, args: argparse.Namespace) -> int:
    """Make a report: here on the embedded default, else (or with --no-wait) as a job."""
    from workbench.reports import run_report, submit_report

    params = _report_params(args)
    if workbench.settings.embedded and not args.no_wait:
        row = run_report(workbench.catalog, args.kind, params, keep=args.keep)
    else:
        info = _follow(
            submit_report(workbench.catalog, args.kind, params, args.keep), f"{args.kind} report", args
        )
        if info is None:
            return 0
        row = next(
            r for r in _reports_of(workbench, args.kind) if r["id"] == (info.result or {}).get("report_id")
        )
    if args.out:
        row["copied_to"] = _copy_report(row, Path(args.out))
    if args.json:
        _print_json(row)
    else:
        print(f"{args.kind} report {row['id']}: {row.get('copied_to') or row['html_path']}")
    return 0


def _report_params(args: argparse.Namespace) -> dict[str, Any]:
    if args.kind == "model":
        return {} if args.model is None else {"model_id": args.model}
    if args.kind == "comparison":
        return {"model_ids": args.models} if args.models else {}
    params: dict[str, Any] = {} if args.name is None else {"dataset": args.name}
    if args.filter:
        try:
            params["filter"] = json.loads(args.filter)
        except json.JSONDecodeError as exc:
            raise WorkbenchError(f"--filter is not valid JSON: {exc}") from exc
    return params


def _reports_of(workbench: Workbench, kind: str | None = None) -> list[dict[str, Any]]:
    from workbench.reports import list_reports

    return list_reports(workbench.catalog, kind)


def _copy_report(row: dict[str, Any], out: Path) -> str:
    """Copy the HTML and the executed notebook into ``out``; returns the HTML's new path."""
    import shutil

    out.mkdir(parents=True, exist_ok=True)
    for key in ("notebook_path", "html_path"):
        shutil.copy2(row[key], out / Path(row[key]).name)
    return str(out / Path(row["html_path"]).name)


def _reports(workbench: Workbench, args: argparse.Namespace) -> int:
    rows = _reports_of(workbench, args.kind)
    if args.json:
        _print_json(rows)
        return 0
    if not rows:
        print("no reports yet: make one with `workbench report model` (or dataset, compare)")
    for row in rows:
        params = json.dumps(row["params"], ensure_ascii=False)
        print(
            f"{row['id']:>4} {row['kind']:<10} {row['created_at'][:19]}  {params[:40]:<40} {row['html_path']}"
        )
    return 0


def _scheduler(workbench: Workbench, args: argparse.Namespace) -> int:
    """Celery beat with a schedule file; or, with --run, one entry now (what a cron line calls)."""
    from workbench.schedule import load_schedule, run_entry, submit_entry

    settings = workbench.settings
    entries = {entry.name: entry for entry in load_schedule(Path(args.schedule), settings)}
    if args.run:
        missing = [name for name in args.run if name not in entries]
        if missing:
            raise WorkbenchError(f"{args.schedule} has no report named {', '.join(missing)}; "
                                 f"its reports: {', '.join(entries)}")  # fmt: skip
        failures: list[str] = []
        for name in args.run:
            entry = entries[name]
            if settings.embedded:
                made, failed = run_entry(workbench.catalog, entry)
                failures += failed
                for row in made:
                    print(f"{name}: {row['kind']} report {row['id']}: {row['html_path']}")
            else:
                for job_id in submit_entry(settings, entry):
                    print(f"{name}: queued as job {job_id}")
        if failures:
            raise WorkbenchError("; ".join(failures))
        return 0
    if settings.embedded:
        raise WorkbenchError(
            "the scheduler is Celery beat and needs a broker (WORKBENCH_BROKER_URL); on the embedded "
            f"default run entries from cron: workbench scheduler --schedule {args.schedule} --run NAME"
        )
    from workbench.schedule import run_beat

    workbench.close()
    run_beat(settings, list(entries.values()), loglevel=args.loglevel)
    return 0


def _datasets(workbench: Workbench, args: argparse.Namespace) -> int:
    rows = workbench.datasets()
    if args.json:
        _print_json([row.to_dict() for row in rows])
    elif not rows:
        print("no datasets yet: bring one with `workbench ingest PATH --name NAME`")
    for row in [] if args.json else rows:
        print(f"{row.name:<24} {row.images:>9,} images {row.labels:>5} labels  {row.kind}")
    return 0


def _show(workbench: Workbench, args: argparse.Namespace) -> int:
    view = _view(workbench, args)
    count, labels = view.count(), view.labels()
    if args.json:
        out: dict[str, Any] = {"dataset": args.name, "filter": view.spec, "count": count, "labels": labels}
        out["images"] = [record._asdict() for record in view.page(0, args.limit)]
        if args.hashes:
            out["sha256"] = [record.sha256 for record in view]
        _print_json(out)
        return 0
    print(f"{args.name} {json.dumps(view.spec)}: {count:,} images")
    for label, n in labels.items():
        print(f"  {label:<24} {n:>9,}")
    for record in view.page(0, args.limit):
        print(f"  #{record.id} {record.label} {record.width}x{record.height} {record.original_name}")
    return 0


def _stats(workbench: Workbench, args: argparse.Namespace) -> int:
    stats = _view(workbench, args).stats()
    if args.plot:
        stats.plot().savefig(args.plot, dpi=100)
    if args.json:
        _print_json(stats.to_dict())
    else:
        print(stats.summary())
        if args.plot:
            print(f"plot written to {args.plot}")
    return 0


def _demo(workbench: Workbench, args: argparse.Namespace) -> int:
    from workbench.demo import run_demo

    return run_demo(workbench, Path(args.dir) if args.dir else None)


def _db(workbench: Workbench, args: argparse.Namespace) -> int:
    from workbench.catalog import db

    if args.action == "sql":
        sys.stdout.write(db.postgres_schema_sql())
        return 0
    engine = db.make_engine(workbench.settings.catalog_url)
    if args.action == "upgrade":
        before, after = db.upgrade(engine)
        print(f"catalog schema at {after}" + (" (was empty)" if before is None else f" (was {before})"))
    else:
        print(f"catalog schema at {db.current_revision(engine)}; newest is {db.head_revision()}")
    engine.dispose()
    return 0


def _view(workbench: Workbench, args: argparse.Namespace):  # type: ignore[no-untyped-def]
    from workbench.errors import FilterError

    try:
        spec = json.loads(args.filter) if args.filter else {}
    except json.JSONDecodeError as exc:
        raise FilterError(f"--filter is not valid JSON: {exc}") from exc
    return workbench.dataset(args.name).filter(spec)


def _print_json(data: Any) -> None:
    json.dump(data, sys.stdout, indent=2, default=str, ensure_ascii=False)
    sys.stdout.write("\n")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="workbench", description=__doc__)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help, description=help)
        sub.set_defaults(handler=handler)
        return sub

    ingest = command("ingest", _ingest, "bring a folder or zip of labelled images into the catalog")
    ingest.add_argument("path", help="an ImageFolder directory (root/<label>/<file>), or a zip of one")
    ingest.add_argument("--name", required=True, help="the dataset to create or add to")
    ingest.add_argument("--labels-csv", help="a CSV with one row per image (image file <id>.<ext>)")
    ingest.add_argument("--label-column", help="the CSV column holding the label")
    ingest.add_argument("--id-column", default="id", help="the CSV column naming the image (default: id)")
    ingest.add_argument("--split", help="train,val[,test] fractions, e.g. 0.8,0.1,0.1 (stratified)")
    ingest.add_argument("--seed", type=int, default=0, help="seed of the split (default: 0)")
    ingest.add_argument("--json", action="store_true", help="print the report as JSON")
    ingest.add_argument("--no-wait", action="store_true", help="queue the ingest as a job and return")

    augment = command("augment", _augment, "augment a dataset into a new one (a job on the imagery queue)")
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
    augment.add_argument("--json", action="store_true", help="print the report as JSON")
    augment.add_argument("--no-wait", action="store_true", help="queue the job and return")

    train = command("train", _train, "train a classifier on a dataset (a job on the torch worker)")
    train.add_argument("name", help="the dataset")
    train.add_argument("--filter", help="a JSON filter of the dataset to train on")
    train.add_argument(
        "--arch", default="resnet18", help="resnet18, resnet34, resnet50, mobilenet_v3_small, ..."
    )
    train.add_argument("--epochs", type=int, default=10)
    train.add_argument("--image-size", type=int, default=32, help="side in pixels (default: 32)")
    train.add_argument("--batch-size", type=int, default=64)
    train.add_argument("--lr", type=float, default=2e-3)
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--precision", default="auto", choices=["auto", "32-true", "bf16-mixed"],
        help="auto (default): bf16 autocast where the CPU has bf16 arithmetic, else fp32",
    )  # fmt: skip
    train.add_argument("--no-hflip", action="store_true", help="no mirrored copies (digits, text)")
    train.add_argument(
        "--pretrained", action="store_true", help="start from ImageNet weights in the local torch cache"
    )
    train.add_argument(
        "--freeze-epochs", type=int, default=0, metavar="N",
        help="fine-tune: train only the classifier head for the first N epochs (default: 0)",
    )  # fmt: skip
    train.add_argument("--int8", action="store_true", help="also export model.int8.onnx (static int8)")
    train.add_argument("--model-name", help="the model's name (default: the dataset's)")
    train.add_argument(
        "--augmented", nargs="*", metavar="NAME",
        help="also train on these augmented children of the dataset (no names: all of them)",
    )  # fmt: skip
    train.add_argument("--no-wait", action="store_true", help="queue the job and return")
    train.add_argument("--json", action="store_true")

    models = command("models", _models, "list your models, oldest first (and publish or delete one)")
    models.add_argument("--json", action="store_true")
    models.add_argument("--publish", type=int, metavar="ID", help="mark a model published first")
    models.add_argument("--unpublish", type=int, metavar="ID", help="mark a model unpublished first")
    models.add_argument("--delete", type=int, metavar="ID", help="delete a model and its files first")

    compare = command("compare", _compare, "models side by side: one table of their metrics")
    compare.add_argument("models", type=int, nargs="+", help="model ids")
    compare.add_argument("--json", action="store_true")

    export = command("export", _export, "copy a model's export (ONNX, labels, preprocessing) to a folder")
    export.add_argument("model", type=int, help="the model id")
    export.add_argument("--out", required=True, help="the folder to write")

    predict = command("predict", _predict, "classify image files, or a whole dataset as a job")
    predict.add_argument("model", type=int, help="the model id")
    predict.add_argument("images", nargs="*", help="image files (top-k, in this process)")
    predict.add_argument("--dataset", help="predict this dataset's images as a job instead")
    predict.add_argument("--filter", help="with --dataset: a JSON filter")
    predict.add_argument("--no-wait", action="store_true", help="with --dataset: queue and return")
    predict.add_argument("--top", type=int, default=3)
    predict.add_argument("--json", action="store_true")

    evaluation = command("evaluate", _evaluate, "score a model on a dataset (a job); kept with the model")
    evaluation.add_argument("model", type=int, help="the model id")
    evaluation.add_argument("name", help="the dataset")
    evaluation.add_argument("--filter", help='a JSON filter, e.g. \'{"split": "test"}\'')
    evaluation.add_argument("--plot", help="write the confusion matrix to this PNG file")
    evaluation.add_argument("--no-wait", action="store_true", help="queue the job and return")
    evaluation.add_argument("--json", action="store_true", help="print every metric as JSON")

    dashboard = command("dashboard", _dashboard, "serve the dashboard (Voila) on this machine")
    dashboard.add_argument("--port", type=int, default=8866)
    dashboard.add_argument("--no-browser", action="store_true", help="do not open a browser")
    dashboard.add_argument("--no-preheat", action="store_true", help="start a kernel per page instead")

    jobs = command("jobs", _jobs, "list your jobs, newest first")
    jobs.add_argument("--state", help="only jobs in this state (queued, running, succeeded, ...)")
    jobs.add_argument("--kind", help="only jobs of this kind (ingest, ping, ...)")
    jobs.add_argument("--json", action="store_true")

    job = command("job", _job, "show one job's state and progress")
    job.add_argument("id", help="the job id")
    job.add_argument("--wait", action="store_true", help="follow it until it ends")
    job.add_argument("--json", action="store_true")

    abort = command("abort", _abort, "ask a job to stop at its next safe point")
    abort.add_argument("id", help="the job id")
    abort.add_argument("--force", action="store_true", help="end it now, for a job that stopped checking")

    worker = command("worker", _worker, "run a worker here (Celery, or the local one when embedded)")
    worker.add_argument("--queues", default="imagery", help="imagery, training, inference (comma-separated)")
    worker.add_argument("--concurrency", type=int, default=1, help="jobs run at once (default: 1)")
    worker.add_argument("--loglevel", default="INFO")

    report = command("report", _report, "make a report: a notebook executed and saved as HTML")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--out", help="also copy the HTML and the executed notebook into this folder")
    common.add_argument("--keep", type=int, help="reports kept per kind and parameters (default: 10)")
    common.add_argument("--no-wait", action="store_true", help="queue the report as a job and return")
    common.add_argument("--json", action="store_true", help="print the report's record as JSON")
    kinds = report.add_subparsers(required=True, metavar="KIND", dest="kind")
    model_report = kinds.add_parser(
        "model", parents=[common], help="metrics, curves, confusion, mistakes and lineage of a model"
    )
    model_report.add_argument("model", type=int, nargs="?", help="the model id (default: the newest)")
    dataset_report = kinds.add_parser(
        "dataset", parents=[common], help="balance, sizes, attributes, samples, duplicates"
    )
    dataset_report.add_argument("name", nargs="?", help="the dataset (default: the newest)")
    dataset_report.add_argument("--filter", help='a JSON filter, e.g. \'{"split": "test"}\'')
    compare_report = kinds.add_parser("compare", parents=[common], help="models side by side")
    compare_report.add_argument("models", type=int, nargs="*", help="model ids (default: the five newest)")
    compare_report.set_defaults(kind="comparison")

    reports = command("reports", _reports, "list your reports, newest first")
    reports.add_argument(
        "--kind", choices=["model", "dataset", "comparison"], help="only reports of this kind"
    )
    reports.add_argument("--json", action="store_true")

    scheduler = command("scheduler", _scheduler, "make reports on a schedule (Celery beat; see README)")
    scheduler.add_argument("--schedule", required=True, help="the schedule file (TOML; see README)")
    scheduler.add_argument("--run", action="append", metavar="NAME",
                           help="make this entry's reports now and exit (for cron); repeatable")  # fmt: skip
    scheduler.add_argument("--loglevel", default="INFO")

    listing = command("datasets", _datasets, "list your datasets")
    listing.add_argument("--json", action="store_true")

    views = (
        ("show", _show, "count and list a dataset's images"),
        ("stats", _stats, "class balance, sizes and attributes of a dataset"),
    )
    for name, handler, help in views:
        sub = command(name, handler, help)
        sub.add_argument("name", help="the dataset")
        sub.add_argument("--filter", help='a JSON filter, e.g. \'{"label": ["3", "8"], "width__gte": 8}\'')
        sub.add_argument("--json", action="store_true")
        if name == "show":
            sub.add_argument("--limit", type=int, default=10, help="images to list (default: 10)")
            sub.add_argument("--hashes", action="store_true", help="with --json: every image's sha256")
        else:
            sub.add_argument("--plot", help="write the plots to this PNG file")

    demo = command("demo", _demo, "ingest scikit-learn's digits into the catalog and show them")
    demo.add_argument("--dir", help="where to write the digit images (default: DATA_DIR/demo)")

    database = command("db", _db, "manage the catalog database schema")
    database.add_argument(
        "action",
        choices=["upgrade", "current", "sql"],
        help="upgrade: migrate to the newest schema; current: show the revision; "
        "sql: print the Postgres schema for a fresh database",
    )
    return parser


if __name__ == "__main__":
    sys.exit(main())
