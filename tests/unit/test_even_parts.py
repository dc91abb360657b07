"""How a fan-out cuts its work: even parts, a multiple of the workers, nothing lost or reordered."""

from __future__ import annotations

import pytest

from workbench.ingest.fanout import chunk_share, share_items
from workbench.ingest.items import Item
from workbench.pool import even_parts


@pytest.mark.parametrize(
    ("n", "most", "workers", "parts"),
    [
        (10_000, 2_048, 2, 6),  # five by size alone: one worker would finish the fifth alone
        (40_000, 2_048, 2, 20),
        (40_000, 2_048, 3, 21),
        (5, 2_048, 2, 2),  # less than one chunk still gives every worker a share
        (3, 1, 2, 3),  # never more parts than items
        (2_049, 2_048, 1, 2),
        (1, 10, 2, 1),
    ],
)
def test_parts_are_even_and_a_multiple_of_the_workers(n: int, most: int, workers: int, parts: int) -> None:
    items = list(range(n))
    cut = even_parts(items, most, workers)
    assert len(cut) == parts
    assert [item for part in cut for item in part] == items
    sizes = {len(part) for part in cut}
    assert max(sizes) - min(sizes) <= 1 and max(sizes) <= max(most, -(-n // parts))


def test_nothing_to_cut_gives_no_part() -> None:
    assert even_parts([], 10, 2) == []


def test_a_chunk_share_reads_back_as_the_same_items() -> None:
    plain = [Item("cats/a.jpg", "cats"), Item("dogs/b.jpg", "dogs")]
    assert "attributes" not in chunk_share(plain)  # columns only for what there is
    assert share_items(chunk_share(plain)) == plain
    described = [Item("1.jpg", "shirt", {"colour": "red"}), Item("2.jpg", "shoe", {})]
    assert share_items(chunk_share(described)) == described
