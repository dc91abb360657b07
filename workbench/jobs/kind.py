"""Job kinds: each declared once, where its code is, with a typed parameters class.

    class PingParams(JobParams):
        steps: int = Field(0, ge=0)

    @job_kind("ping", queue="imagery", params=PingParams)
    def ping(ctx: JobContext[PingParams]) -> dict[str, Any]: ...

The decorator fills one registry; ``workbench.kinds`` lists the modules that declare kinds and
imports them, and the clients, the local worker and the Celery app (one task per kind, named
``workbench.<kind>``) all read the registry. Parameters are parsed and checked by
``JobKind.parse`` alone: before a job is queued and again on the worker, one error class
(``ParamsError``) and one message shape.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError

from workbench.errors import JobError, ParamsError, WorkbenchError

if TYPE_CHECKING:
    from workbench.catalog import Catalog
    from workbench.jobs.fanout import FanOut
    from workbench.jobs.runner import JobContext

QUEUES = ("imagery", "training", "inference")
TORCH_QUEUES = ("training", "inference")  # a worker of these only runs prefork (decision #82)


class JobParams(BaseModel):
    """Base of every kind's parameters: JSON data, no unknown names, no silent coercion."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)

    def check(self, catalog: Catalog, job_id: str | None) -> None:
        """Checks that need the catalog (does the view exist, is the name free): raise ValueError
        saying what to do. Runs before queueing (``job_id`` None) and again on the worker."""

    def to_json(self) -> dict[str, Any]:
        """What the jobs row keeps: the parameters given, defaults left to the worker's code."""
        return self.model_dump(mode="json", exclude_unset=True)


P = TypeVar("P", bound=JobParams)
JobFunction = Callable[["JobContext[P]"], "dict[str, Any] | None"]


@dataclass(frozen=True)
class JobKind(Generic[P]):
    name: str
    queue: str
    params: type[P]
    run: JobFunction[P]
    # Parameter errors of this kind are also instances of this domain error (AugmentError...),
    # so a caller that catches the domain's errors catches them too.
    error: type[WorkbenchError] = WorkbenchError
    # Set: a job bigger than one chunk fans out over every worker of the queue (jobs.fanout).
    fanout: FanOut[P] | None = None
    # Set on a chunk kind: the kind whose jobs it is a part of (never submitted on its own).
    part_of: str | None = None
    params_error: type[ParamsError] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if self.queue not in QUEUES:
            raise ValueError(f"job kind {self.name!r}: queue must be one of {', '.join(QUEUES)}")
        bases = (ParamsError,) if issubclass(ParamsError, self.error) else (ParamsError, self.error)
        error = type(f"{self.name.title()}ParamsError", bases, {"__module__": __name__})
        object.__setattr__(self, "params_error", error)

    @property
    def task_name(self) -> str:
        """The Celery task's name: fixed, so messages queued by an older release still route."""
        return f"workbench.{self.name}"

    def parse(self, raw: Mapping[str, Any], catalog: Catalog | None = None, job_id: str | None = None) -> P:
        """Validate ``raw`` into this kind's parameters, then (given a catalog) run their checks."""
        try:
            params = self.params.model_validate(dict(raw))
        except ValidationError as exc:
            raise self.params_error(f"invalid {self.name} parameters: {describe(exc, self.params)}") from None
        if catalog is not None:
            try:
                params.check(catalog, job_id)
            except ValueError as exc:
                raise self.params_error(f"invalid {self.name} parameters: {exc}") from None
        return params


def describe(error: ValidationError, model: type[BaseModel]) -> str:
    """pydantic's errors as one line: what is wrong with each field, and the valid names."""
    parts = []
    for item in error.errors(include_url=False):
        where = ".".join(str(part) for part in item["loc"])
        if item["type"] == "extra_forbidden":
            valid = ", ".join(model.model_fields)
            parts.append(f"unknown parameter {where!r} (valid: {valid})")
        elif item["type"] == "missing":
            parts.append(f"{where} is required")
        elif item["type"] == "value_error":  # our own validators' messages stand alone
            parts.append(str(item["ctx"]["error"]))
        else:
            parts.append(f"{where}: {item['msg'][0].lower()}{item['msg'][1:]}; got {item['input']!r}")
    return "; ".join(parts)


_REGISTRY: dict[str, JobKind[Any]] = {}


def job_kind(
    name: str,
    *,
    queue: str,
    params: type[P],
    error: type[WorkbenchError] = WorkbenchError,
    fanout: FanOut[P] | None = None,
) -> Callable[[JobFunction[P]], JobFunction[P]]:
    """Declare the decorated function as the job kind ``name`` on ``queue``. With ``fanout``,
    the function is the one-process way (the embedded default, or work of one chunk), and a
    second kind, ``<name>_chunk``, runs the chunks."""

    def register(function: JobFunction[P]) -> JobFunction[P]:
        kind = JobKind(name, queue, params, function, error, fanout)
        _add(kind)
        if fanout is not None:
            from workbench.jobs.fanout import chunk_kind

            _add(chunk_kind(kind))
        return function

    return register


def _add(kind: JobKind[Any]) -> None:
    known = _REGISTRY.get(kind.name)
    same = known is not None and _origin(known.run) == _origin(kind.run)
    if known is not None and not same:
        raise ValueError(
            f"job kind {kind.name!r} is declared twice: {_origin(known.run)} and {_origin(kind.run)}"
        )
    _REGISTRY[kind.name] = kind


def _origin(function: Callable[..., Any]) -> str:
    return f"{function.__module__}.{function.__qualname__}"


def registered() -> Mapping[str, JobKind[Any]]:
    """Every kind declared so far (``workbench.kinds.load_kinds`` imports the modules first)."""
    return _REGISTRY


def kind_named(name: str) -> JobKind[Any]:
    kind = _REGISTRY.get(name)
    if kind is None:
        known = sorted(kind for kind, declared in _REGISTRY.items() if declared.part_of is None)
        raise JobError(f"unknown job kind {name!r}; known: {', '.join(known)}")
    return kind
