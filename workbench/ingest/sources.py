"""Where images come from: an ImageFolder directory, a zip of one, or either plus a CSV.

A source lists its entries (items to ingest, or files skipped with a reason); a FileReader reads
an item's bytes by name, so a worker process given only the path and a chunk of items can read
them again with a reader of its own.
"""

from __future__ import annotations

import errno
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from workbench.config import LABEL_LENGTH, Limits
from workbench.errors import IngestError
from workbench.ingest.archive import SafeZip
from workbench.ingest.attributes import AttributeTable, read_attributes
from workbench.ingest.items import Item, SkipFile, Skipped

if TYPE_CHECKING:
    from workbench.catalog import Catalog

Entry = Item | Skipped
_JUNK_PARTS = ("__MACOSX",)


class FileReader:
    """Reads files of a directory or members of a zip by their relative POSIX name.

    Each process needs its own: a zip's file offset is shared by every process that inherited
    the handle, so a reader opens the archive again instead of travelling with an open one.
    """

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = Path(path)
        self.limits = limits
        if not self.path.exists():
            raise IngestError(f"{self.path} does not exist")
        self.zip = SafeZip(self.path, limits) if self.path.is_file() else None
        self._root = str(self.path)

    def read(self, name: str) -> bytes:
        """Bytes of the file ``name``; SkipFile for what cannot be taken."""
        if self.zip is not None:
            return self.zip.read(name, self.limits.max_image_bytes)
        try:
            # O_NOFOLLOW: a link could point anywhere (/etc/shadow); links are never followed.
            fd = os.open(os.path.join(self._root, name), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError as exc:
            if exc.errno == errno.ELOOP:
                raise SkipFile("symbolic link (not followed)") from exc
            raise SkipFile(f"cannot read: {exc.strerror}") from exc
        try:  # plain descriptors: a file object costs more than reading a small image
            size = os.fstat(fd).st_size
            if size > self.limits.max_image_bytes:
                raise SkipFile(
                    f"file too large ({size:,} bytes; the limit is {self.limits.max_image_bytes:,})"
                )
            data = os.read(fd, size + 1)  # a regular file gives all it has in one read
        finally:
            os.close(fd)
        if len(data) != size:
            raise SkipFile("the file changed while it was read")
        return data

    def close(self) -> None:
        if self.zip is not None:
            self.zip.close()


class Source:
    """Files of a directory or a zip archive, named by their relative POSIX path."""

    def __init__(self, path: Path, limits: Limits, exclude: Path | None = None) -> None:
        self.reader = FileReader(path, limits)
        self.path, self.limits = self.reader.path, limits
        self._exclude = str(exclude.resolve()) if exclude is not None else None
        self.links: list[str] = []  # symbolic links, never followed: listed as skipped
        self.files = self._list_files()
        self._prefix = _common_folder(self.files)

    def _list_files(self) -> list[str]:
        if self.reader.zip is not None:
            self.links = sorted(self.reader.zip.links)
            return sorted(self.reader.zip.members)
        root = str(self.path.resolve())
        names = []
        for folder, dirs, files in os.walk(root, followlinks=False):
            dirs.sort()
            relative = os.path.relpath(folder, root).replace(os.sep, "/")
            prefix = "" if relative == "." else relative + "/"
            # A link to a folder is not walked into; say so, as for a link to a file (read() skips it).
            self.links += [prefix + d for d in dirs if os.path.islink(os.path.join(folder, d))]
            for file in files:
                if os.path.join(folder, file) != self._exclude:  # the CSV may sit beside its images
                    names.append(prefix + file)
        return sorted(names)

    def read(self, name: str) -> bytes:
        return self.reader.read(name)

    def entries(self, table: AttributeTable | None) -> Iterator[Entry]:
        """Every file as an Item to ingest or as Skipped with its reason."""
        for link in self.links:
            if not _is_junk(_parts(link)):
                yield Skipped(link, "symbolic link (not followed)")
        matched: set[str] = set()
        for name in self.files:
            parts = _parts(name[len(self._prefix) :])
            if _is_junk(parts):
                continue
            if table is None:
                yield _from_folder_layout(name, parts)
                continue
            key = _match_row(parts[-1], table)
            if key is None:
                yield Skipped(name, f"no row in the CSV for id {_stem(parts[-1])!r}")
            else:
                matched.add(key)
                yield Item(name, table.labels[key], table.rows[key])
        if table is not None:
            for key in table.rows.keys() - matched:
                table.issues.append({"row": key, "reason": f"no image file for id {key!r}"})

    def close(self) -> None:
        self.reader.close()


def open_source(
    path: Path,
    limits: Limits,
    labels_csv: Path | None = None,
    label_column: str | None = None,
    id_column: str = "id",
) -> tuple[Source, AttributeTable | None]:
    """The source and, with a CSV, its attribute table; raises IngestError for unusable input."""
    if labels_csv is None and label_column is not None:
        raise IngestError("--label-column needs --labels-csv")
    table = None
    if labels_csv is not None:
        if label_column is None:
            raise IngestError("--labels-csv needs --label-column to say which column is the label")
        table = read_attributes(labels_csv, label_column, id_column, limits)
    return Source(path, limits, exclude=labels_csv), table


def _parts(name: str) -> list[str]:
    """The folders and file of a relative POSIX name (plain string work: a PurePosixPath per
    file cost more than reading a small image)."""
    parts = name.split("/")
    if "" in parts or "." in parts:  # rare: the common case skips a comprehension per file
        parts = [part for part in parts if part not in ("", ".")]
    return parts


def _stem(file: str) -> str:
    dot = file.rfind(".")
    return file[:dot] if dot > 0 else file


def _from_folder_layout(name: str, parts: list[str]) -> Entry:
    if len(parts) < 2:
        return Skipped(name, "not inside a label folder (expected <label>/<file>)")
    if len(parts[0]) > LABEL_LENGTH:  # a zip can name a folder longer than any file system
        return Skipped(
            name, f"a label folder name of {len(parts[0]):,} characters; the limit is {LABEL_LENGTH}"
        )
    return Item(name, parts[0])


def _match_row(file: str, table: AttributeTable) -> str | None:
    for key in (_stem(file), file):
        if key in table.rows:
            return key
    return None


def _is_junk(parts: list[str]) -> bool:
    """Archive and OS droppings (``__MACOSX``, ``.DS_Store``, dotfiles), never images."""
    for part in parts:  # noqa: SIM110 - runs once per file, and any() over a generator costs twice
        if part[0] == "." or part in _JUNK_PARTS:
            return True
    return False


def _common_folder(files: list[str]) -> str:
    """A single top folder wrapping everything (``digits/0/a.png``) is not a label: strip it."""
    tops = {name.split("/", 1)[0] for name in files if not _is_junk(_parts(name))}
    if len(tops) != 1:
        return ""
    top = next(iter(tops))
    inner = [name for name in files if name.startswith(top + "/")]
    if inner and all(name.count("/") >= 2 for name in inner):
        return top + "/"
    return ""


def local_path(catalog: Catalog, path: str) -> Path:
    """``path`` as this host sees it: an object-store reference (``s3://...``, from
    ``Workbench.share``) is fetched into this host's data directory first."""
    return catalog.store.fetch(path) if "://" in path else Path(path)
