"""A request body streamed to a file under the data directory, a chunk at a time: never held in
memory (FastAPI's UploadFile would parse a whole multipart body first). An interrupted upload
leaves nothing: the partial file is removed, and nothing reaches the object store."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from fastapi import Request
from starlette.concurrency import run_in_threadpool


async def receive(request: Request, folder: Path, name: str) -> Path:
    """The body of ``request`` as ``folder/<unique>-name``; removed again if it does not arrive whole."""
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{uuid.uuid4().hex[:12]}-{Path(name).name}"
    partial = target.with_name(f".{target.name}.part")
    try:
        with open(partial, "wb") as handle:
            async for chunk in request.stream():
                await run_in_threadpool(handle.write, chunk)  # a slow disk must not stall the loop
        os.replace(partial, target)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    return target
