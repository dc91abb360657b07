"""One small hierarchy of errors; every message says what to do next."""

from __future__ import annotations


class WorkbenchError(Exception):
    """Base of every error workbench raises on purpose. The CLI prints it on one line, exit 2."""


class ConfigError(WorkbenchError):
    """A setting is missing or malformed."""


class CatalogError(WorkbenchError):
    """The catalog database is unreachable or at the wrong schema version."""


class NotFoundError(WorkbenchError):
    """A dataset, image, model or job does not exist for the current user."""


class ReadOnlyError(WorkbenchError):
    """A change asked of a dataset or model that is only shared with this user."""

    @classmethod
    def shared(cls, what: str, owner: str) -> ReadOnlyError:
        return cls(
            f"{what} belongs to {owner} and is shared with you read-only: "
            f"only {owner} can change or delete it"
        )


class StorageError(WorkbenchError):
    """The object store refused or could not be reached (the message says which and why)."""


class DiskFullError(WorkbenchError):
    """The data disk is full; the message says how much is free and where."""


class IngestError(WorkbenchError):
    """The input as a whole is refused (a hostile archive, a CSV without its label column...)."""


class FilterError(WorkbenchError):
    """A filter spec names an unknown field or operator, or a value of the wrong type."""


class JobError(WorkbenchError):
    """A job could not be submitted, or ended failed."""


class ParamsError(JobError):
    """A job's parameters are invalid; the message names each wrong one and what is valid.
    Each job kind raises a subclass that is also its domain's error (AugmentError...)."""


class TrainingError(WorkbenchError):
    """A view cannot be trained on as it is, or a training configuration is invalid."""


class AugmentError(WorkbenchError):
    """An augmentation recipe or request is invalid (unknown op, bad parameter, empty view...)."""


class ReportError(WorkbenchError):
    """A report could not be made: an unknown kind or parameter, a failing cell, a dead kernel."""


class ImageError(WorkbenchError):
    """An image handed over to classify cannot be used: unreadable, not an image, damaged, or
    claiming more pixels than the limit (a decompression bomb)."""


class OutOfMemoryError(WorkbenchError):
    """Out of memory even at the smallest batch allowed; the message says what to try."""
