"""What flows through an ingest: candidate items, skipped files and the final report."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


class SkipFile(Exception):
    """This one file cannot be ingested; the reason goes into the report and the rest go on."""


@dataclass(frozen=True)
class Item:
    """A file to ingest, named as the person knows it (relative to the folder or archive).

    Plain data, so a chunk of items can travel to a worker as JSON and be read there again.
    """

    name: str
    label: str
    attributes: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Skipped:
    file: str
    reason: str


@dataclass
class IngestReport:
    dataset: str
    ingested: int = 0
    duplicates: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    csv_issues: list[dict[str, Any]] = field(default_factory=list)
    splits: dict[str, int] = field(default_factory=dict)
    labels: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        parts = [f"{self.ingested:,} images ingested into {self.dataset!r}"]
        if self.duplicates:
            parts.append(f"{self.duplicates:,} duplicates skipped")
        if self.skipped:
            parts.append(f"{len(self.skipped):,} files skipped")
        if self.csv_issues:
            parts.append(f"{len(self.csv_issues):,} CSV rows with issues")
        return ", ".join(parts) + f" in {self.seconds:.1f} s"
