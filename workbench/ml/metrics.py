"""Evaluation from logits and targets: accuracy, top-k, per-class precision/recall/F1, the
confusion matrix, the most confused pairs, misclassified examples and metrics per attribute."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from workbench.ml.plot import Plot


def evaluate(
    logits: np.ndarray, targets: np.ndarray, classes: Sequence[str], *,
    attributes: Sequence[dict[str, Any]] | None = None, ids: Sequence[int] | None = None,
    top_k: int = 5, max_misclassified: int = 100,
) -> dict[str, Any]:  # fmt: skip
    n, k = len(targets), min(top_k, len(classes))
    predicted = logits.argmax(1)
    exp = np.exp(logits - logits.max(1, keepdims=True))
    probabilities = exp / exp.sum(1, keepdims=True)
    confusion = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(confusion, (targets, predicted), 1)
    per_class = {}
    for c, name in enumerate(classes):
        tp = int(confusion[c, c])
        predicted_c, actual_c = int(confusion[:, c].sum()), int(confusion[c].sum())
        precision = tp / predicted_c if predicted_c else 0.0
        recall = tp / actual_c if actual_c else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[name] = {"precision": precision, "recall": recall, "f1": f1, "support": actual_c}
    top = np.argsort(-logits, axis=1)[:, :k]
    pairs = [(classes[t], classes[p], int(confusion[t, p])) for t in range(len(classes))
             for p in range(len(classes)) if t != p and confusion[t, p]]  # fmt: skip
    wrong = np.flatnonzero(predicted != targets)
    wrong = wrong[np.argsort(-probabilities[wrong, predicted[wrong]])][:max_misclassified]
    misclassified = [
        {"image_id": int(ids[int(i)]) if ids is not None else int(i), "true": classes[int(targets[i])],
         "predicted": classes[int(predicted[i])], "score": float(probabilities[i, predicted[i]])}
        for i in wrong
    ]  # fmt: skip
    return {
        "n": n,
        "accuracy": float((predicted == targets).mean()) if n else 0.0,
        f"top{k}_accuracy": float((top == targets[:, None]).any(1).mean()) if n else 0.0,
        "per_class": per_class,
        "macro_f1": float(np.mean([m["f1"] for m in per_class.values()])) if per_class else 0.0,
        "confusion": confusion.tolist(),
        "classes": list(classes),
        "most_confused": [
            {"true": t, "predicted": p, "count": c} for t, p, c in sorted(pairs, key=lambda x: -x[2])[:10]
        ],
        "misclassified": misclassified,
        "by_attribute": _by_attribute(predicted == targets, attributes) if attributes else {},
    }


def _by_attribute(correct: np.ndarray, attributes: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Accuracy per value of every attribute (e.g. by baseColour), values with their counts."""
    tally: dict[str, dict[str, list[int]]] = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    for ok, attrs in zip(correct.tolist(), attributes, strict=True):
        for key, value in attrs.items():
            cell = tally[key][str(value)]
            cell[0] += int(ok)
            cell[1] += 1
    return {
        key: {value: {"accuracy": right / total, "n": total} for value, (right, total) in values.items()}
        for key, values in tally.items()
        if len(values) <= 50  # a free-text attribute (product names) is no slice
    }


def confusion_figure(metrics: dict[str, Any]) -> Plot:
    """The confusion matrix as a matplotlib figure (counts in the cells, rows are true labels)."""
    from workbench.ml.plot import Plot

    matrix = np.array(metrics["confusion"])
    classes = metrics["classes"]
    side = max(4.0, 0.45 * len(classes) + 2)
    figure = Plot(figsize=(side, side))
    axes = figure.subplots()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(classes)), classes, rotation=90)
    axes.set_yticks(range(len(classes)), classes)
    axes.set_xlabel("predicted")
    axes.set_ylabel("true")
    for (i, j), count in np.ndenumerate(matrix):
        if count:
            color = "white" if count > matrix.max() / 2 else "black"
            axes.text(j, i, str(count), ha="center", va="center", fontsize=8, color=color)
    axes.set_title(f"accuracy {metrics['accuracy']:.1%} on {metrics['n']:,} images")
    figure.tight_layout()
    return figure
