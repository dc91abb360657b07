"""Reading zip archives without trusting them.

Members are never extracted to disk: they are validated as a whole first (names, counts, declared
sizes, compression ratios) and then streamed into memory one at a time, never past the size the
header declares, so a member whose header lies costs at most its declared size.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from workbench.config import Limits
from workbench.errors import IngestError
from workbench.ingest.items import SkipFile

_READ_CHUNK = 1024 * 1024
# Small members may compress extremely well (a blank PNG); the ratio rule only bites above this.
_RATIO_FLOOR_BYTES = 1024 * 1024


class SafeZip:
    """A zip archive that has passed every whole-archive check; read members with ``read``."""

    def __init__(self, path: Path, limits: Limits) -> None:
        self.path = Path(path)
        self.limits = limits
        try:
            self._zip = zipfile.ZipFile(self.path)
        except (zipfile.BadZipFile, OSError) as exc:
            raise IngestError(f"{self.path} is not a readable zip archive: {exc}") from exc
        self.links: list[str] = []  # symbolic links: never read, listed as skipped by the source
        self.members = self._validate(self._zip.infolist())

    def _validate(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        if len(infos) > self.limits.max_archive_members:
            self._refuse(
                f"it has {len(infos):,} members, over the limit of {self.limits.max_archive_members:,}"
            )
        members: dict[str, zipfile.ZipInfo] = {}
        total = 0
        for info in infos:
            check_member_name(info.filename, self.path)
            if _is_symlink(info):
                self.links.append(info.filename)
                continue
            if info.is_dir():
                continue
            total += info.file_size
            if info.file_size > _RATIO_FLOOR_BYTES:
                ratio = info.file_size / max(info.compress_size, 1)
                if ratio > self.limits.max_archive_ratio:
                    self._refuse(
                        f"member {info.filename!r} expands {ratio:,.0f}:1 "
                        f"(limit {self.limits.max_archive_ratio}:1); it looks like a zip bomb"
                    )
            members[info.filename] = info
        if total > self.limits.max_archive_total_bytes:
            self._refuse(
                f"it declares {total / 1024**3:,.1f} GiB uncompressed, over the limit of "
                f"{self.limits.max_archive_total_bytes / 1024**3:,.1f} GiB; it looks like a zip bomb"
            )
        return members

    def read(self, name: str, max_bytes: int) -> bytes:
        """The member's bytes; SkipFile for one we cannot take, including a member whose
        data does not match its header (a lied-about size ends in a CRC error)."""
        info = self.members[name]
        if info.file_size > max_bytes:
            raise SkipFile(f"file too large ({info.file_size:,} bytes; the limit is {max_bytes:,})")
        if info.flag_bits & 0x1:
            raise SkipFile("encrypted zip member")
        parts: list[bytes] = []
        size = 0
        try:
            # zipfile itself stops inflating at the declared size and then checks the CRC, so a
            # member whose header understates its size fails here, never fills the memory.
            with self._zip.open(info) as stream:
                while chunk := stream.read(_READ_CHUNK):
                    size += len(chunk)
                    if size > info.file_size:
                        self._refuse(f"member {name!r} inflates past the size its header declares")
                    parts.append(chunk)
        except (zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise SkipFile(f"corrupt zip member ({exc})") from exc
        return b"".join(parts)

    def close(self) -> None:
        self._zip.close()

    def _refuse(self, why: str) -> None:
        raise IngestError(f"refused {self.path.name}: {why}. Nothing was ingested.")


def check_member_name(name: str, archive: Path) -> None:
    """Refuse absolute paths, drive letters and '..' anywhere, whichever separator is used."""
    normalised = name.replace("\\", "/")
    parts = PurePosixPath(normalised).parts
    hostile = (
        normalised.startswith("/")
        or (len(normalised) > 1 and normalised[1] == ":")
        or ".." in normalised.split("/")
        or "\x00" in name
    )
    if hostile or not parts:
        raise IngestError(
            f"refused {archive.name}: member {name!r} has an absolute path or '..' in its name, "
            "which could write outside the target. Nothing was ingested; rebuild the archive "
            "with relative paths."
        )


def _is_symlink(info: zipfile.ZipInfo) -> bool:
    return stat.S_ISLNK(info.external_attr >> 16)
