"""The embedded PostgreSQL of the quick start and the tests: a real server that keeps its
data between starts, lets in only the holder of its password, never runs as root, and does
not outlive whoever started it."""

import os
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import psutil
import psycopg2
import pytest

from ops.embedded_postgres import EmbeddedPostgres
from ops.stack import BASE_DIR, free_port, wait_until


@pytest.fixture
def cluster_root():
    # In /tmp, as config/testenv.py does: pytest's own temporary folders are private to root,
    # and the server started by root runs as an account that must reach its folder.
    root = Path(tempfile.mkdtemp(prefix="embedded-postgres-test-"))
    yield root
    shutil.rmtree(root, ignore_errors=True)


def connect(url: str):
    return psycopg2.connect(url.replace("postgres://", "postgresql://", 1), connect_timeout=5)


def test_data_outlives_a_stop_and_the_url_file_exists_only_while_it_runs(cluster_root):
    server = EmbeddedPostgres(cluster_root, durable=False).start()
    try:
        assert server.url_file.read_text() == server.url
        assert stat.S_IMODE(server.url_file.stat().st_mode) == 0o600
        with connect(server.url) as connection, connection.cursor() as cursor:
            cursor.execute("CREATE TABLE kept (word text); INSERT INTO kept VALUES ('still here')")
        pid = server.process.pid
    finally:
        server.stop()
    assert not psutil.pid_exists(pid)
    assert not server.url_file.exists()

    again = EmbeddedPostgres(cluster_root, durable=False).start()
    try:
        with connect(again.url) as connection, connection.cursor() as cursor:
            cursor.execute("SELECT word FROM kept")
            assert cursor.fetchall() == [("still here",)]
    finally:
        again.stop()


def test_only_the_password_holder_gets_in_and_the_server_never_runs_as_root(cluster_root):
    server = EmbeddedPostgres(cluster_root, durable=False).start()
    try:
        without_password = f"postgresql://postgres@127.0.0.1:{server.port}/imageclassifier"
        with pytest.raises(psycopg2.OperationalError, match="password"):
            psycopg2.connect(without_password, connect_timeout=5)
        assert psutil.Process(server.process.pid).uids().effective != 0
    finally:
        server.stop()


def test_a_port_taken_before_the_server_binds_it_means_another_port(cluster_root, monkeypatch):
    from ops import embedded_postgres

    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        ports = iter([taken])
        monkeypatch.setattr(embedded_postgres, "free_port", lambda: next(ports, free_port()))
        server = EmbeddedPostgres(cluster_root, durable=False).start()
        try:
            assert server.port != taken
            with connect(server.url) as connection, connection.cursor() as cursor:
                cursor.execute("SELECT 1")
        finally:
            server.stop()


def test_the_server_stops_when_whoever_started_it_is_killed(cluster_root):
    starter = subprocess.Popen(
        [
            sys.executable,
            "-c",
            textwrap.dedent(f"""
                import sys, time
                from pathlib import Path
                from ops.embedded_postgres import EmbeddedPostgres
                server = EmbeddedPostgres(Path({str(cluster_root)!r}), durable=False).start()
                print(server.process.pid, flush=True)
                time.sleep(600)
            """),
        ],
        cwd=BASE_DIR,
        env={**os.environ, "PYTHONPATH": str(BASE_DIR)},
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        server_pid = int(starter.stdout.readline())
        assert psutil.pid_exists(server_pid)
    finally:
        starter.send_signal(signal.SIGKILL)
        starter.wait(timeout=10)
        starter.stdout.close()

    def gone() -> bool:
        try:
            return psutil.Process(server_pid).status() == psutil.STATUS_ZOMBIE
        except psutil.NoSuchProcess:
            return True

    try:
        wait_until(gone, timeout=30, what="the orphaned server to shut down")
    finally:
        if not gone():  # the test failed: leave no server behind
            os.kill(server_pid, signal.SIGQUIT)
