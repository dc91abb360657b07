"""A dataset's name as the catalog can hold it, checked where the name enters, before any SQL."""

from __future__ import annotations

from workbench.config import NAME_LENGTH
from workbench.errors import IngestError


def check_dataset_name(name: str) -> str:
    """``name`` as given, or IngestError saying what a name may be."""
    if not name.strip():
        raise IngestError("the dataset needs a name")
    if len(name) > NAME_LENGTH:
        raise IngestError(
            f"the dataset name is {len(name):,} characters long; the limit is {NAME_LENGTH}: "
            "choose a shorter name"
        )
    if "\x00" in name:  # Postgres text cannot hold one; the driver would raise, not refuse
        raise IngestError("the dataset name holds a NUL character: choose another name")
    return name
