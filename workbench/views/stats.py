"""Statistics of a view, computed in SQL, and the plots a person would rather look at than read."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, true

from workbench.catalog import Image
from workbench.views.where import attribute_value

if TYPE_CHECKING:
    from workbench.ml.plot import Plot
    from workbench.views import View

TOP_VALUES = 10


@dataclass
class Stats:
    count: int
    labels: dict[str, int]
    splits: dict[str, int]
    sizes: dict[str, int]  # "WxH" -> images
    formats: dict[str, int]
    attributes: dict[str, dict[str, int]] = field(default_factory=dict)  # top values (+ "(other)")
    numeric: dict[str, dict[str, float]] = field(default_factory=dict)  # min, mean, max

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        lines = [f"{self.count:,} images, {len(self.labels)} labels"]
        lines += [f"  {label:<24} {n:>8,}" for label, n in self.labels.items()]
        if self.splits:
            lines.append("splits: " + ", ".join(f"{k} {v:,}" for k, v in self.splits.items()))
        lines.append("sizes: " + ", ".join(f"{k} ({v:,})" for k, v in list(self.sizes.items())[:5]))
        for name, values in self.attributes.items():
            lines.append(f"{name}: " + ", ".join(f"{k} ({v:,})" for k, v in values.items()))
        for name, summary in self.numeric.items():
            lines.append(f"{name}: " + ", ".join(f"{k} {v:,.4g}" for k, v in summary.items()))
        return "\n".join(lines)

    def plot(self) -> Plot:
        from workbench.views.plots import stats_figure

        return stats_figure(self)

    def _repr_png_(self) -> bytes:
        return self.plot()._repr_png_()

    def __repr__(self) -> str:
        return f"<Stats: {self.count:,} images, {len(self.labels)} labels>"


def compute_stats(view: View) -> Stats:
    where = view._where()
    dialect = view.catalog.engine.dialect.name
    with view.catalog.sessions() as session:

        def grouped(*columns: Any, limit: int | None = None, only: Any = None) -> dict[Any, int]:
            query = select(*columns, func.count()).where(where, true() if only is None else only)
            query = query.group_by(*columns).order_by(func.count().desc()).limit(limit)
            rows = session.execute(query).all()
            return {row[0] if len(columns) == 1 else tuple(row[:-1]): row[-1] for row in rows}

        labels = grouped(Image.label)
        stats = Stats(
            count=sum(labels.values()),
            labels=labels,
            splits={k: v for k, v in grouped(Image.split).items() if k},
            sizes={f"{w}x{h}": n for (w, h), n in grouped(Image.width, Image.height, limit=20).items()},
            formats=grouped(Image.format),
        )
        for name, kind in sorted(view.attribute_types.items()):
            if kind != "str":
                value = attribute_value(name, "float", dialect)
                low, mean, high = session.execute(
                    select(func.min(value), func.avg(value), func.max(value)).where(where)
                ).one()
                if low is not None:
                    stats.numeric[name] = {"min": low, "mean": float(mean), "max": high}
                continue
            value = attribute_value(name, "str", dialect)
            top = grouped(value, limit=TOP_VALUES + 1, only=value.is_not(None))
            if len(top) > TOP_VALUES:  # many distinct values: keep the top ones and sum the rest
                top = dict(list(top.items())[:TOP_VALUES])
                with_value = session.execute(
                    select(func.count()).where(where, value.is_not(None))
                ).scalar_one()
                top["(other)"] = with_value - sum(top.values())
            stats.attributes[name] = {str(k): v for k, v in top.items()}
    return stats
