"""A View is a dataset plus a filter spec: lazy, countable, sampleable, JSON-serializable.

Nothing is read until asked; every question is one SQL query with bound parameters. A View is
what travels to workers, as ``view.to_json()``, never as a pickled object.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.orm import aliased

from workbench.catalog import Catalog, Dataset, Image, shares
from workbench.catalog.retry import retrying
from workbench.catalog.summaries import most_common_first
from workbench.errors import FilterError
from workbench.views.spec import describe_filter, parse_spec, valid_fields
from workbench.views.where import where_clause

if TYPE_CHECKING:
    from IPython.display import HTML
    from PIL.Image import Image as PILImage

    from workbench.views.stats import Stats

PAGE_SIZE = 100
NARROW_LABEL_ROWS = 10_000  # see View._label_is_narrow


class ImageRecord(NamedTuple):
    """One image's catalog row (a tuple: a sample of thousands is built in a blink)."""

    id: int
    sha256: str
    label: str
    split: str | None
    width: int
    height: int
    format: str
    bytes: int
    original_name: str
    attributes: dict[str, Any]


_RECORD_COLUMNS = [getattr(Image, name) for name in ImageRecord._fields]


class ViewSpec(BaseModel):
    """A view as data: what job parameters carry and what a model records it was trained on."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    dataset: str = Field(description="the dataset's name")
    filter: dict[str, Any] = Field(
        default_factory=dict, description='e.g. {"label": ["cat"], "width__gte": 64}'
    )


def image_hashes(catalog: Catalog, image_ids: list[int]) -> dict[int, str]:
    """The sha256 (the blob and thumbnail key) of each image by id that the current user may
    read (their own, or in a dataset shared with them)."""
    with catalog.connect() as connection:
        readable = shares.readable_datasets(catalog, connection)
        query = select(Image.id, Image.sha256).where(Image.id.in_(image_ids), Image.dataset_id.in_(readable))
        return {image_id: sha256 for image_id, sha256 in connection.execute(query).all()}


class View:
    def __init__(self, catalog: Catalog, dataset: str, spec: dict[str, Any] | None = None) -> None:
        self.catalog = catalog
        with catalog.sessions() as session:
            row = catalog.dataset_row(session, dataset)
        self.dataset = dataset
        self.dataset_id = row.id
        self.attribute_types: dict[str, str] = dict(row.attribute_types)
        self._label_counts: dict[str, int] = dict(row.label_counts)
        if spec is not None and not isinstance(spec, dict):
            raise FilterError(f'a filter is a JSON object like {{"label": ["a"]}}, not {type(spec).__name__}')
        self.spec: dict[str, Any] = dict(spec or {})
        # Fails fast on a typo or a filter over the limits, before any SQL.
        self.conditions = parse_spec(self.spec, self.attribute_types, catalog.settings.limits)
        self._where_clause: ColumnElement[bool] | None = None

    # -- building -------------------------------------------------------------------------
    def filter(self, spec: dict[str, Any] | None = None, /, **conditions: Any) -> View:
        """A narrower view: this one's conditions plus these (a repeated key is replaced)."""
        if spec is not None and not isinstance(spec, dict):
            raise FilterError(f'a filter is a JSON object like {{"label": ["a"]}}, not {type(spec).__name__}')
        return View(self.catalog, self.dataset, {**self.spec, **(spec or {}), **conditions})

    @property
    def fields(self) -> list[str]:
        return valid_fields(self.attribute_types)

    def to_json(self) -> str:
        return json.dumps({"dataset": self.dataset, "filter": self.spec}, sort_keys=True)

    def to_spec(self) -> ViewSpec:
        return ViewSpec(dataset=self.dataset, filter=self.spec)

    @classmethod
    def from_spec(cls, catalog: Catalog, spec: ViewSpec) -> View:
        return cls(catalog, spec.dataset, spec.filter)

    @classmethod
    def from_json(cls, catalog: Catalog, text: str | dict[str, Any]) -> View:
        try:
            data = json.loads(text) if isinstance(text, str) else text
        except json.JSONDecodeError as exc:
            raise FilterError(f'a view is JSON like {{"dataset": NAME, "filter": {{...}}}}: {exc}') from exc
        if not isinstance(data, dict) or "dataset" not in data:
            raise FilterError('a view is {"dataset": NAME, "filter": {...}}')
        return cls(catalog, data["dataset"], data.get("filter") or {})

    # -- questions ------------------------------------------------------------------------
    def count(self) -> int:
        return self._scalar(select(func.count()).select_from(Image).where(self._where()))

    def labels(self) -> dict[str, int]:
        """Images per label, most common first."""
        if not self.conditions:  # the whole dataset: counts kept on its row at ingest
            with self.catalog.sessions() as session:
                counts = session.get_one(Dataset, self.dataset_id).label_counts
            return most_common_first(counts)
        query = (
            select(Image.label, func.count())
            .where(self._where())
            .group_by(Image.label)
            .order_by(func.count().desc(), Image.label)
        )
        with self.catalog.sessions() as session:
            return {label: n for label, n in session.execute(query).all()}

    def page(self, number: int = 0, size: int = PAGE_SIZE) -> list[ImageRecord]:
        """Page ``number`` (from 0) in id order."""
        if number < 0 or size < 0:
            raise FilterError(f"a page number and a page size are 0 or more, not {number} and {size}")
        if number * size >= 2**63:  # past every image: SQL's OFFSET is 64-bit (SQLite overflowed)
            return []
        query = self._select().order_by(Image.id).limit(min(size, 2**63 - 1)).offset(number * size)
        return self._records(query)

    def sample(self, n: int, seed: int = 0) -> list[ImageRecord]:
        """``n`` images picked uniformly at random, the same ones for the same seed.

        Walks the (dataset_id, sha256) index from a seed-chosen hash (wrapping around once)
        instead of sorting the whole view by random(): content hashes are uniform, so any stretch
        of them is a uniform draw whatever the labels.
        """
        start = hashlib.sha256(f"sample:{seed}".encode()).hexdigest()
        after = self._records(self._select().where(Image.sha256 >= start).order_by(Image.sha256).limit(n))
        if len(after) == n:
            return after
        before = self._records(
            self._select().where(Image.sha256 < start).order_by(Image.sha256).limit(n - len(after))
        )
        return after + before

    def ids(self) -> list[int]:
        query = select(Image.id).where(self._where()).order_by(Image.id)
        with self.catalog.sessions() as session:
            return list(session.scalars(query))

    def id_ranges(self, size: int) -> list[tuple[int, int]]:
        """The view cut into ranges of ``size`` images, as (after, up to) ids: the shares of a
        job that fans out (``between`` reads one). One query, a row per range."""
        numbered = select(Image.id, func.row_number().over(order_by=Image.id).label("n")).where(self._where())
        inner = numbered.subquery()
        query = select(inner.c.id).where(inner.c.n % size == 0).order_by(inner.c.id)
        with self.catalog.sessions() as session:
            ends = list(session.scalars(query))
            last = session.scalar(select(func.max(Image.id)).where(self._where()))
        if last is not None and (not ends or ends[-1] != last):
            ends.append(last)
        return list(zip([0, *ends[:-1]], ends, strict=True))

    def after(self, cursor: int, size: int = PAGE_SIZE) -> list[ImageRecord]:
        """The next ``size`` images after id ``cursor``, in id order (keyset paging: a page costs
        the same however deep; the last record's id is the next cursor)."""
        if cursor < 0 or size < 0:
            raise FilterError(f"a cursor and a page size are 0 or more, not {cursor} and {size}")
        return self._records(self._select().where(Image.id > cursor).order_by(Image.id).limit(size))

    def between(self, after: int, upto: int) -> list[ImageRecord]:
        """The view's images with ``after < id <= upto``, in id order."""
        return self._records(self._select().where(Image.id > after, Image.id <= upto).order_by(Image.id))

    def __iter__(self) -> Iterator[ImageRecord]:
        """Every image in id order, a page at a time (keyset paging: flat cost per page)."""
        last = 0
        while page := self._records(self._select().where(Image.id > last).order_by(Image.id).limit(1000)):
            yield from page
            last = page[-1].id

    def copies_elsewhere(self) -> dict[str, int]:
        """Images of this view whose exact bytes are also in another of the user's datasets:
        dataset name -> how many, most first."""
        other = aliased(Image)
        shared = func.count(func.distinct(Image.id))
        query = (
            select(Dataset.name, shared)
            .join(other, (other.sha256 == Image.sha256) & (other.dataset_id != Image.dataset_id))
            .join(Dataset, Dataset.id == other.dataset_id)
            .where(self._where(), other.owner == self.catalog.user)
            .group_by(Dataset.name)
            .order_by(shared.desc())
        )
        with self.catalog.sessions() as session:
            return {name: n for name, n in session.execute(query).all()}

    def __len__(self) -> int:
        return self.count()

    def stats(self) -> Stats:
        from workbench.views.stats import compute_stats

        return compute_stats(self)

    def show(self, n: int = 24, seed: int = 0) -> HTML:
        """A grid of ``n`` sampled thumbnails with their labels, for a notebook."""
        from workbench.views.gallery import thumbnail_grid

        return thumbnail_grid(self.catalog.store, self.sample(n, seed))

    def open(self, record: ImageRecord) -> PILImage:
        """One of this view's images decoded by Pillow (to look at, or to hand to a model)."""
        from PIL import Image as PIL

        return PIL.open(io.BytesIO(self.catalog.store.read(record.sha256)))

    def __repr__(self) -> str:
        return f"View({self.dataset!r}, {self.spec!r})"

    def _repr_html_(self) -> str:
        from workbench.catalog.display import card

        labels = self.labels()
        shown = ", ".join(f"{label} ({n:,})" for label, n in list(labels.items())[:8])
        facts = {
            "images": f"{sum(labels.values()):,}",
            "labels": f"{len(labels)}: {shown}" + (" …" if len(labels) > 8 else ""),
        }
        if self.spec:
            facts["filter"] = describe_filter(self.spec)
        return card("view", f"Images of {self.dataset}" + (" (filtered)" if self.spec else ""), facts)

    # -- plumbing -------------------------------------------------------------------------
    def _where(self) -> ColumnElement[bool]:
        if self._where_clause is None:  # a View never changes: build its clause once
            dialect = self.catalog.engine.dialect.name
            self._where_clause = (Image.dataset_id == self.dataset_id) & where_clause(
                self.conditions, dialect, attribute_index=not self._label_is_narrow()
            )
        return self._where_clause

    def _label_is_narrow(self) -> bool:
        """Whether the label condition alone leaves few rows (known from the dataset's counts).

        Then walking the label index and checking attributes row by row beats intersecting the
        attribute index's long posting lists (at a million rows: 9 ms against 16 ms for a rare
        label and two common attributes), and Postgres cannot tell which is cheaper by itself.
        """
        labels = next((c.value for c in self.conditions if c.field == "label" and c.op in ("eq", "in")), None)
        if labels is None:
            return False
        wanted = [labels] if isinstance(labels, str) else labels
        return sum(self._label_counts.get(label, 0) for label in wanted) <= NARROW_LABEL_ROWS

    def _select(self) -> Select[Any]:
        return select(*_RECORD_COLUMNS).where(self._where())

    @retrying
    def _records(self, query: Select[Any]) -> list[ImageRecord]:
        # A Core connection, not an ORM session: these are plain rows, and the ORM's result
        # machinery cost more than the query for a sample of a thousand.
        with self.catalog.connect() as connection:
            # fetchall: one driver call, not one per row through the result's iterator.
            return list(map(ImageRecord._make, connection.execute(query).fetchall()))

    @retrying
    def _scalar(self, query: Select[Any]) -> Any:
        with self.catalog.sessions() as session:
            return session.execute(query).scalar_one()
