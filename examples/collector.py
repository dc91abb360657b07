"""A collector, as a phone app would be: post photos with their labels to the workbench's REST API,
one request each, and wait until they are in the dataset.

    python examples/collector.py --api http://127.0.0.1:8080 --token wb_... --dataset field PHOTOS/

PHOTOS holds one folder per label (``PHOTOS/cat/1.jpg``); the token needs the write scope
(`workbench tokens create collector --scope write`). Standard library only: copy it anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

PHOTO_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp", ".bmp"}


def call(api: str, token: str, method: str, path: str, body: bytes | None = None) -> dict[str, object]:
    request = urllib.request.Request(api.rstrip("/") + path, data=body, method=method)
    request.add_header("Authorization", f"Bearer {token}")
    if body is not None:
        request.add_header("Content-Type", "application/octet-stream")
    try:
        with urllib.request.urlopen(request, timeout=60) as answer:
            return dict(json.load(answer))
    except urllib.error.HTTPError as error:  # a problem+json body says why, in words
        problem = json.load(error)
        raise SystemExit(f"{method} {path}: {problem.get('title')}: {problem.get('detail')}") from None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("photos", type=Path, help="a folder with one folder of photos per label")
    parser.add_argument("--api", required=True)
    parser.add_argument("--token", required=True)
    parser.add_argument("--dataset", required=True)
    args = parser.parse_args()
    jobs = []
    for photo in sorted(p for p in args.photos.glob("*/*") if p.suffix.lower() in PHOTO_SUFFIXES):
        query = urllib.parse.urlencode({"label": photo.parent.name, "filename": photo.name})
        sent = call(
            args.api, args.token, "POST", f"/v1/datasets/{args.dataset}/images?{query}", photo.read_bytes()
        )
        jobs.append(str(sent["job"]))
        print(f"sent {photo.parent.name}/{photo.name}")
    for job_id in jobs:  # each photo is added by a job of its own on the workers
        while (reading := call(args.api, args.token, "GET", f"/v1/jobs/{job_id}"))["state"] in (
            "queued",
            "running",
        ):
            time.sleep(0.5)
        if reading["state"] != "succeeded":
            print(f"job {job_id}: {reading['state']}: {reading.get('error')}", file=sys.stderr)
    print(f"{len(jobs)} photos sent to {args.dataset!r}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
