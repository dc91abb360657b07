"""Commands on models: train, models, compare, export (a web app too), import-head, predict, evaluate."""

from __future__ import annotations

import argparse
import shutil
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
from workbench.errors import WorkbenchError
from workbench.ml.config import PRECISIONS, TrainConfig

# TrainConfig fields the command offers as --flags; their defaults and help come from TrainConfig.
TRAIN_FLAGS = ("arch", "epochs", "image_size", "batch_size", "lr", "seed", "freeze_epochs")


def register(commands: Commands) -> None:
    train = command(commands, "train", _train, "train a classifier on a dataset (a job on the torch worker)")
    add_view_arguments(train, "a JSON filter of the dataset to train on")
    fields = TrainConfig.model_fields
    for name in TRAIN_FLAGS:
        field = fields[name]
        kind = type(field.default)
        train.add_argument(
            "--" + name.replace("_", "-"), type=kind, metavar="N" if kind is int else None,
            help=f"{field.description} (default: {field.default})",
        )  # fmt: skip
    train.add_argument(
        "--precision", choices=["auto", *PRECISIONS],
        help="auto (default): bf16 autocast where the CPU has bf16 arithmetic, else fp32",
    )  # fmt: skip
    train.add_argument("--no-hflip", action="store_true", help="no mirrored copies (digits, text)")
    train.add_argument("--pretrained", action="store_true", help=fields["pretrained"].description)
    train.add_argument("--int8", action="store_true", help="also export model.int8.onnx (static int8)")
    train.add_argument("--model-name", help="the model's name (default: the dataset's)")
    train.add_argument(
        "--augmented", nargs="*", metavar="NAME",
        help="also train on these augmented children of the dataset (no names: all of them)",
    )  # fmt: skip
    add_follow_arguments(train)

    sweep = command(
        commands,
        "sweep",
        _sweep,
        "train every combination of architectures, learning rates and sizes, compared",
    )
    add_view_arguments(sweep, "a JSON filter of the dataset to train on")
    sweep.add_argument(
        "--archs",
        default="resnet18",
        help="comma-separated (default: resnet18); for a CPU: resnet18,mobilenet_v3_small,efficientnet_b0",
    )
    sweep.add_argument("--lrs", default=str(fields["lr"].default), help="comma-separated peak learning rates")
    sweep.add_argument(
        "--sizes", default=str(fields["image_size"].default), help="comma-separated image sizes (px)"
    )
    sweep.add_argument(
        "--epochs", type=int, metavar="N", help=f"for each (default: {fields['epochs'].default})"
    )
    sweep.add_argument("--model-name", help="the models' name (default: the dataset's)")
    add_follow_arguments(sweep)

    models = command(
        commands, "models", _models, "list your models, oldest first (and publish or delete one)"
    )
    models.add_argument("--json", action="store_true")
    models.add_argument("--publish", type=int, metavar="ID", help="mark a model published first")
    models.add_argument("--unpublish", type=int, metavar="ID", help="mark a model unpublished first")
    models.add_argument("--delete", type=int, metavar="ID", help="delete a model and its files first")

    compare = command(commands, "compare", _compare, "models side by side: one table of their metrics")
    compare.add_argument("models", type=int, nargs="+", help="model ids")
    compare.add_argument("--json", action="store_true")

    export = command(
        commands, "export", _export, "copy a model's export (ONNX, labels, preprocessing) to a folder"
    )
    export.add_argument("model", type=int, help="the model id")
    export.add_argument("--out", help="the folder to write the ONNX export to")
    export.add_argument(
        "--web", metavar="DIR", help="write an offline web app (serve the folder: see its README.txt)"
    )
    export.add_argument("--int8", action="store_true", help="with --web: ship the int8 model")
    export.add_argument(
        "--threads", action="store_true",
        help="with --web: several threads where the server sends COOP/COEP headers (default: one)",
    )  # fmt: skip
    export.add_argument("--zip", metavar="FILE", help="with --web: also zip the folder into FILE")

    head = command(
        commands, "import-head", _import_head,
        "a head personalised in a model's web app (head.json) as a new model version",
    )  # fmt: skip
    head.add_argument("model", type=int, help="the model whose web app it was trained in")
    head.add_argument("head", help="the head.json the app exported")
    head.add_argument("--name", help="the new model's name (default: the parent's, personalised)")

    predict = command(commands, "predict", _predict, "classify image files, or a whole dataset as a job")
    predict.add_argument("model", type=int, help="the model id")
    predict.add_argument("images", nargs="*", help="image files (top-k, in this process)")
    predict.add_argument("--dataset", help="predict this dataset's images as a job instead")
    predict.add_argument("--filter", help="with --dataset: a JSON filter")
    predict.add_argument("--no-wait", action="store_true", help="with --dataset: queue and return")
    predict.add_argument("--top", type=int, default=3)
    predict.add_argument("--json", action="store_true")

    evaluation = command(
        commands, "evaluate", _evaluate, "score a model on a dataset (a job); kept with the model"
    )
    evaluation.add_argument("model", type=int, help="the model id")
    add_view_arguments(evaluation)
    evaluation.add_argument("--plot", help="write the confusion matrix to this PNG file")
    add_follow_arguments(evaluation)


def _sweep(workbench: Workbench, args: argparse.Namespace) -> int:
    def listed(text: str, kind: type) -> list[Any]:
        try:
            return [kind(item) for item in text.split(",") if item.strip()]
        except ValueError as exc:
            raise WorkbenchError(f"{text!r}: give comma-separated numbers, e.g. 0.001,0.01") from exc

    train = {"epochs": args.epochs} if args.epochs is not None else {}
    job = workbench.sweep(
        view_of(workbench, args), archs=listed(args.archs, str), lrs=listed(args.lrs, float),
        image_sizes=listed(args.sizes, int), name=args.model_name, **train,
    )  # fmt: skip
    info = follow(job, "sweep", args)
    if info is None:
        return 0
    result = info.result or {}
    if args.json:
        print_json(result)
        return 0
    for row in result.get("models", []):
        c = row["configuration"]
        mark = "  <- best" if row["model_id"] == result["best_model_id"] else ""
        print(f"model {row['model_id']}: {c['arch']}, lr {c['lr']:g}, {c['image_size']} px: "
              f"test accuracy {row['accuracy']:.1%}{mark}")  # fmt: skip
    print(f"comparison report {result['report_id']}: `workbench reports` lists it")
    return 0


def _train(workbench: Workbench, args: argparse.Namespace) -> int:
    given = {name: getattr(args, name) for name in TRAIN_FLAGS if getattr(args, name) is not None}
    params: dict[str, Any] = {**given, "name": args.model_name or args.name, "int8": args.int8}
    if args.precision is not None:
        params["precision"] = args.precision
    if args.no_hflip:
        params["hflip"] = False
    if args.pretrained:
        params["pretrained"] = True
    if args.augmented is not None:  # the flag alone: every augmented child of the dataset
        params["augmented"] = args.augmented or True
    info = follow(workbench.train(view_of(workbench, args), **params), "training", args)
    if info is None:
        return 0
    model = next(m for m in workbench.models() if m["id"] == (info.result or {}).get("model_id"))
    if args.json:
        print_json(model)
        return 0
    print(f"model {model['id']}: test accuracy {model['metrics']['accuracy']:.1%}; "
          f"export in {model['export_dir']}")  # fmt: skip
    if "int8" in model["metrics"]:
        int8 = model["metrics"]["int8"]
        print(f"int8 export {int8['file']}: test accuracy {int8['accuracy']:.1%} "
              f"({int8['accuracy_change']:+.1%})")  # fmt: skip
    return 0


def _models(workbench: Workbench, args: argparse.Namespace) -> int:
    if args.publish is not None:
        workbench.publish(args.publish)
    if args.unpublish is not None:
        workbench.unpublish(args.unpublish)
    if args.delete is not None:
        workbench.delete_model(args.delete)
    models = workbench.models()
    if args.json:
        print_json(models)
        return 0
    if not models:
        print("no models yet: train one with `workbench train DATASET`")
    for m in models:
        accuracy = m["metrics"].get("accuracy")
        shown = f"{accuracy:.1%}" if accuracy is not None else "—"
        print(f"{m['id']:>4} {m['name']:<20} {m['arch']:<18} accuracy {shown:>6}  {m['export_dir']}")
    return 0


def _compare(workbench: Workbench, args: argparse.Namespace) -> int:
    rows = workbench.compare(args.models)
    if args.json:
        print_json(rows)
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
    if not (args.out or args.web):
        raise WorkbenchError("say where: --out DIR (the ONNX export) or --web DIR (the web app), or both")
    if (args.int8 or args.threads or args.zip) and not args.web:
        raise WorkbenchError("--int8, --threads and --zip go with --web DIR")
    model = workbench.model(args.model)
    if args.out:
        shutil.copytree(workbench.export_folder(model.id), args.out, dirs_exist_ok=True)
        print(f"model {args.model} exported to {args.out} (model.onnx, labels.json, preprocess.json)")
    if args.web:
        from workbench.web import zip_web

        folder = workbench.export_web(model.id, args.web, int8=args.int8, threads=args.threads)
        print(f"model {args.model} exported as a web app to {folder}; serve it, e.g. "
              f"`python -m http.server 8000 --bind 127.0.0.1 --directory {folder}`, "
              "and open http://127.0.0.1:8000/ (README.txt there says more)")  # fmt: skip
        if args.zip:
            print(f"zipped into {zip_web(folder, Path(args.zip))}")
    return 0


def _import_head(workbench: Workbench, args: argparse.Namespace) -> int:
    model_id = workbench.import_head(args.model, Path(args.head), name=args.name)
    model = workbench.model(model_id)
    print(f"model {model_id} ({model.name}): model {args.model}'s backbone with your head, "
          f"{len(model.classes)} classes ({', '.join(model.classes[:12])})")  # fmt: skip
    return 0


def _predict(workbench: Workbench, args: argparse.Namespace) -> int:
    """Top-k labels of image files, in this process with ONNX Runtime (quick for a few images)."""
    from workbench.ml.predict import OnnxPredictor
    from workbench.photos import open_photo, read_photo

    if args.dataset:
        return _predict_view(workbench, args)
    if not args.images:
        raise WorkbenchError("give image files to classify, or --dataset NAME to predict a whole view")
    model = workbench.model(args.model)
    predictor = OnnxPredictor(workbench.export_folder(model.id))
    limits = workbench.settings.limits
    results = {}
    for path in args.images:  # a file that is not a sound image is refused in one line
        results[path] = predictor.top_k(open_photo(read_photo(path, limits), limits, path), args.top)
    if args.json:
        print_json({path: [{"label": label, "score": score} for label, score in top]
                    for path, top in results.items()})  # fmt: skip
        return 0
    for path, top in results.items():
        print(path + ": " + ", ".join(f"{label} {score:.1%}" for label, score in top))
    return 0


def _predict_view(workbench: Workbench, args: argparse.Namespace) -> int:
    """A whole (filtered) dataset as a job on the inference queue; predictions go to the catalog."""
    args.name = args.dataset
    info = follow(workbench.predict(args.model, view_of(workbench, args)), "prediction", args)
    if info is not None:
        print_json(info.result) if args.json else print(info.message)
    return 0


def _evaluate(workbench: Workbench, args: argparse.Namespace) -> int:
    """Evaluate a model on a (filtered) dataset as a job; the metrics are stored with the model."""
    from workbench.ml.metrics import confusion_figure

    view = view_of(workbench, args)
    info = follow(workbench.evaluate(args.model, view), "evaluation", args)
    if info is None:
        return 0
    metrics = workbench.model(args.model).metrics["evaluations"][view.to_json()]
    if args.plot:
        confusion_figure(metrics).savefig(args.plot, dpi=120)
    if args.json:
        print_json(metrics)
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
