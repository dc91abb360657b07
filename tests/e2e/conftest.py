"""Fixtures of the end-to-end tests."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from workbench.demo import write_digits


@pytest.fixture(scope="session")
def digit_files(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, str]]:
    """The digits as files with their labels, and nothing else."""
    images, labels_csv = write_digits(tmp_path_factory.mktemp("digits"))
    with labels_csv.open() as handle:
        return [(images / f"{row['id']}.png", row["digit"]) for row in csv.DictReader(handle)]
