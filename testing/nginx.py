"""Debian's nginx in front of a test stack, with the deployment's own template (deploy/nginx/).

Used by the front-server tests; rendering is the same substitution docker-compose's nginx
image does, so the tests exercise the file that is deployed.
"""

from __future__ import annotations

import os
import pwd
import shutil
import string
import subprocess
from pathlib import Path

from ops.stack import BASE_DIR, StackError, free_port, port_open, stop_process, wait_until

NGINX_TEMPLATE = BASE_DIR / "deploy" / "nginx" / "classifier.conf.template"
NGINX_PATH = Path(shutil.which("nginx") or "/usr/sbin/nginx")
#: the read timeouts the template sets, which `Nginx(read_timeout_seconds=...)` shortens
READ_TIMEOUT_DIRECTIVES = ("client_header_timeout", "client_body_timeout")
TEMPLATE_READ_TIMEOUT = "10s"


def render_nginx_site(*, listen: str, upstream: str, static_root: Path | str, max_body: str) -> str:
    """deploy/nginx/classifier.conf.template with its four ${CLASSIFIER_*} values filled in.

    The same substitution the nginx image's envsubst does in docker-compose: only these
    names are replaced, nginx's own $variables are left alone.
    """
    values = {
        "CLASSIFIER_LISTEN": listen,
        "CLASSIFIER_UPSTREAM": upstream,
        "CLASSIFIER_STATIC_ROOT": str(static_root).rstrip("/"),
        "CLASSIFIER_MAX_BODY": max_body,
    }
    text = string.Template(NGINX_TEMPLATE.read_text()).safe_substitute(values)
    if "${CLASSIFIER_" in text:
        raise StackError("deploy/nginx template has a ${CLASSIFIER_...} value nobody fills in")
    return text


def with_read_timeouts(site: str, seconds: int) -> str:
    """The rendered site with client_header_timeout and client_body_timeout set to `seconds`."""
    for directive in READ_TIMEOUT_DIRECTIVES:
        line = f"{directive} {TEMPLATE_READ_TIMEOUT};"
        if site.count(line) != 1:
            raise StackError(f"the nginx template no longer says '{line}'")
        site = site.replace(line, f"{directive} {seconds}s;")
    return site


class Nginx:
    """Debian's nginx with the deployment template, run as a foreground process.

    Everything it writes (pid, logs, temporary bodies) stays in `work_dir`, so it needs no
    root and no system paths; the site itself is the production template, unchanged except
    for `read_timeout_seconds`: when given, client_header_timeout and client_body_timeout
    (the template's 10 s) take that value, so a test sees nginx cut a socket off sooner.
    """

    def __init__(
        self,
        *,
        upstream: str,
        static_root: Path,
        work_dir: Path,
        max_body: str,
        port: int | None = None,
        read_timeout_seconds: int | None = None,
    ):
        self.port = port or free_port()
        self.upstream = upstream
        self.static_root = static_root
        self.work_dir = work_dir
        self.max_body = max_body
        self.read_timeout_seconds = read_timeout_seconds
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def main_config(self) -> str:
        work = self.work_dir
        # As root, nginx's workers would drop to "nobody", who cannot read a private temp dir.
        user = f"user {pwd.getpwuid(os.geteuid()).pw_name};\n" if os.geteuid() == 0 else ""
        temp_paths = "\n".join(
            f"    {kind}_temp_path {work / 'tmp' / kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        return (
            f"{user}worker_processes 1;\ndaemon off;\npid {work / 'nginx.pid'};\n"
            f"error_log {work / 'error.log'} info;\n"
            "events { worker_connections 2048; }\n"
            "http {\n    include /etc/nginx/mime.types;\n"
            "    default_type application/octet-stream;\n"
            f"    access_log {work / 'access.log'};\n{temp_paths}\n"
            f"    include {work / 'classifier.conf'};\n}}\n"
        )

    def start(self) -> Nginx:
        if not NGINX_PATH.exists():
            raise StackError(f"nginx is not installed at {NGINX_PATH} (apt-get install nginx)")
        (self.work_dir / "tmp").mkdir(parents=True, exist_ok=True)
        site = render_nginx_site(
            listen=f"127.0.0.1:{self.port}",
            upstream=self.upstream,
            static_root=self.static_root,
            max_body=self.max_body,
        )
        if self.read_timeout_seconds is not None:
            site = with_read_timeouts(site, self.read_timeout_seconds)
        (self.work_dir / "classifier.conf").write_text(site)
        (self.work_dir / "nginx.conf").write_text(self.main_config())
        log = open(self.work_dir / "stderr.log", "ab")  # noqa: SIM115 (closed with the process)
        self.process = subprocess.Popen(
            [
                str(NGINX_PATH),
                *("-p", str(self.work_dir), "-c", str(self.work_dir / "nginx.conf")),
                *("-e", str(self.work_dir / "error.log")),  # before the config is read
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        try:
            wait_until(
                lambda: self.process.poll() is not None or port_open("127.0.0.1", self.port),
                timeout=15,
                what=f"nginx on port {self.port}",
            )
        except BaseException:
            self.stop()
            raise
        if self.process.poll() is not None:
            errors = (self.work_dir / "error.log").read_text(errors="replace")[-2000:]
            raise StackError(f"nginx exited with code {self.process.returncode}: {errors}")
        return self

    def stop(self) -> None:
        if self.process is not None:
            stop_process(self.process, grace=5)

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc_info) -> None:
        self.stop()
