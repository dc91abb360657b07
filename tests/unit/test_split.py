"""Train/val/test splits: fractions as typed, and a seeded, stratified, order-free assignment."""

from __future__ import annotations

import hashlib
import random
from collections import Counter

import pytest

from workbench.errors import IngestError
from workbench.ingest.split import assign_splits, parse_fractions

Triple = tuple[int, str, str]


def _images(counts: dict[str, int], first_id: int = 1) -> list[Triple]:
    """(id, label, sha256) for ``counts`` images per label, each with distinct content."""
    triples = []
    for label, count in counts.items():
        for n in range(count):
            sha256 = hashlib.sha256(f"{label}/{n}".encode()).hexdigest()
            triples.append((first_id + len(triples), label, sha256))
    return triples


def _per_label(images: list[Triple], assignment: dict[int, str]) -> dict[str, Counter[str]]:
    counts: dict[str, Counter[str]] = {}
    for image_id, label, _ in images:
        counts.setdefault(label, Counter())[assignment[image_id]] += 1
    return counts


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0.8,0.1,0.1", (0.8, 0.1, 0.1)),
        ("0.7,0.3", (0.7, 0.3)),
        (" 0.5 , 0.5", (0.5, 0.5)),
        ("1,0,0", (1, 0, 0)),
    ],
)
def test_fractions_are_read_as_typed(text: str, expected: tuple[float, ...]) -> None:
    assert parse_fractions(text) == expected


@pytest.mark.parametrize("text", ["eighty,twenty", "0.8;0.2", "", "0.8,,0.2"])
def test_fractions_that_are_not_numbers_are_refused(text: str) -> None:
    with pytest.raises(IngestError, match=r"must be numbers like 0\.8,0\.1,0\.1"):
        parse_fractions(text)


@pytest.mark.parametrize("text", ["1", "0.4,0.3,0.2,0.1", "0.5,0.6", "0.5,0.3", "1.2,-0.2"])
def test_fractions_must_be_two_or_three_non_negative_summing_to_one(text: str) -> None:
    with pytest.raises(IngestError) as error:
        parse_fractions(text)
    assert str(error.value) == f"--split {text!r} must be 2 or 3 non-negative fractions summing to 1"


def test_the_same_images_and_seed_give_the_same_split_in_any_order() -> None:
    images = _images({"cat": 13, "dog": 7})
    shuffled = images[:]
    random.Random(1).shuffle(shuffled)
    assert assign_splits(images, (0.6, 0.2, 0.2), seed=5) == assign_splits(shuffled, (0.6, 0.2, 0.2), seed=5)


def test_the_split_follows_the_content_not_the_image_ids() -> None:
    images = _images({"cat": 10})
    renumbered = [(image_id + 1000, label, sha256) for image_id, label, sha256 in images]
    first = assign_splits(images, (0.5, 0.5), seed=0)
    second = assign_splits(renumbered, (0.5, 0.5), seed=0)
    assert {sha: first[i] for i, _, sha in images} == {sha: second[i] for i, _, sha in renumbered}


def test_another_seed_gives_another_split() -> None:
    images = _images({"cat": 40})
    assert assign_splits(images, (0.5, 0.5), seed=0) != assign_splits(images, (0.5, 0.5), seed=1)


def test_every_label_is_split_in_the_same_proportions() -> None:
    images = _images({"cat": 10, "dog": 20, "owl": 30})
    assignment = assign_splits(images, (0.8, 0.1, 0.1), seed=3)
    assert len(assignment) == 60
    assert _per_label(images, assignment) == {
        "cat": Counter(train=8, val=1, test=1),
        "dog": Counter(train=16, val=2, test=2),
        "owl": Counter(train=24, val=3, test=3),
    }


@pytest.mark.parametrize(
    ("size", "fractions", "expected"),
    [
        (7, (0.5, 0.5), {"train": 4, "val": 3}),  # equal remainders: the first split wins
        (5, (0.8, 0.1, 0.1), {"train": 4, "val": 1}),  # 4.0, 0.5, 0.5: one to val, the first tie
        (9, (0.6, 0.3, 0.1), {"train": 5, "val": 3, "test": 1}),  # 5.4, 2.7, 0.9: largest remainders
        (6, (0.7, 0.2, 0.1), {"train": 4, "val": 1, "test": 1}),  # 4.2, 1.2, 0.6: test's remainder is largest
    ],
)
def test_rounding_goes_to_the_largest_remainders(
    size: int, fractions: tuple[float, ...], expected: dict[str, int]
) -> None:
    images = _images({"cat": size})
    assert Counter(assign_splits(images, fractions, seed=0).values()) == Counter(expected)


@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_tiny_class_goes_to_train_whole(size: int) -> None:
    images = _images({"rare": size, "common": 50})
    assignment = assign_splits(images, (0.8, 0.1, 0.1), seed=0)
    assert _per_label(images, assignment)["rare"] == Counter(train=size)


def test_every_image_gets_exactly_one_split_whatever_the_sizes() -> None:
    for size in range(1, 40):
        images = _images({"a": size, "b": size // 3 + 1})
        for fractions in [(0.8, 0.1, 0.1), (0.7, 0.3), (1 / 3, 1 / 3, 1 / 3), (0.0, 0.5, 0.5)]:
            assignment = assign_splits(images, fractions, seed=size)
            assert sorted(assignment) == [image_id for image_id, _, _ in images]
            assert set(assignment.values()) <= set(("train", "val", "test")[: len(fractions)])
            for label, counts in _per_label(images, assignment).items():
                total = sum(counts.values())
                for name, fraction in zip(("train", "val", "test"), fractions, strict=False):
                    assert abs(counts[name] - total * fraction) < 1, (size, fractions, label, counts)


def test_no_images_give_no_assignment() -> None:
    assert assign_splits([], (0.8, 0.2), seed=0) == {}
