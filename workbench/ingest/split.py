"""Seeded, stratified train/val/test assignment."""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

from workbench.errors import IngestError

SPLIT_NAMES = ("train", "val", "test")


def parse_fractions(text: str) -> tuple[float, ...]:
    """'0.8,0.1,0.1' -> (0.8, 0.1, 0.1); two numbers mean train and val."""
    try:
        fractions = tuple(float(part) for part in text.split(","))
    except ValueError as exc:
        raise IngestError(f"--split {text!r} must be numbers like 0.8,0.1,0.1") from exc
    if not 2 <= len(fractions) <= 3 or any(f < 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
        raise IngestError(f"--split {text!r} must be 2 or 3 non-negative fractions summing to 1")
    return fractions


def assign_splits(
    images: Sequence[tuple[int, str, str]], fractions: Sequence[float], seed: int
) -> dict[int, str]:
    """Map image id -> split for (id, label, sha256) triples, class by class.

    The order inside a class is a seeded hash of the content, so the same images and seed give
    the same split on any machine and in any ingest order. Largest remainders decide the rounding.
    """
    by_label: dict[str, list[tuple[str, int]]] = defaultdict(list)
    for image_id, label, sha256 in images:
        key = hashlib.sha256(f"{seed}:{sha256}".encode()).hexdigest()
        by_label[label].append((key, image_id))
    assignment: dict[int, str] = {}
    for members in by_label.values():
        members.sort()
        counts = _apportion(len(members), fractions)
        start = 0
        for name, count in zip(SPLIT_NAMES, counts, strict=False):
            for _, image_id in members[start : start + count]:
                assignment[image_id] = name
            start += count
    return assignment


def _apportion(total: int, fractions: Sequence[float]) -> list[int]:
    exact = [total * f for f in fractions]
    counts = [int(x) for x in exact]
    by_remainder = sorted(range(len(exact)), key=lambda i: exact[i] - counts[i], reverse=True)
    for i in by_remainder[: total - sum(counts)]:
        counts[i] += 1
    return counts
