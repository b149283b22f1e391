"""python manage.py run_stack: PostgreSQL and Redis (embedded unless DATABASE_URL / REDIS_URL
say where), migrations and the operator account, gunicorn and model worker(s), all stopped
together by Ctrl-C."""

import signal
import time
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

from ops.stack import Stack, StackConfig, StackError


def password_hint() -> str:
    """Where the operator's password is: never the password itself (logs get shared)."""
    if settings.ADMIN_PASSWORD_FILE:
        return f"password in {settings.ADMIN_PASSWORD_FILE}"
    if settings.ADMIN_PASSWORD:
        return "password: the ADMIN_PASSWORD you set"
    return "no account yet: python manage.py createsuperuser"


class Command(BaseCommand):
    help = (
        "Run the whole system locally: embedded PostgreSQL and Redis (unless DATABASE_URL, "
        "REDIS_URL), migrate, ensure_superuser, then web and workers."
    )

    def add_arguments(self, parser):
        parser.add_argument("--port", type=int, default=settings.PORT)
        parser.add_argument("--workers", type=int, default=1)
        parser.add_argument("--web-processes", type=int, default=1)
        parser.add_argument("--web-threads", type=int, default=32)
        parser.add_argument("--log-dir", type=Path, default=StackConfig.log_dir)

    def handle(self, *args, **options):
        config = StackConfig(
            web_port=options["port"],
            workers=options["workers"],
            web_processes=options["web_processes"],
            web_threads=options["web_threads"],
            log_dir=options["log_dir"],
            # Training runs (the training app) go to their own queue, drained here by a plain
            # RQ worker so the whole product runs from one command.
            side_queue=settings.TRAINING_QUEUE,
            prepare=[["migrate", "--noinput", "-v", "0"], ["ensure_superuser"]],
        )
        stack = Stack(config)
        stopping = False

        def request_stop(signum, frame):
            nonlocal stopping
            stopping = True

        signal.signal(signal.SIGINT, request_stop)
        signal.signal(signal.SIGTERM, request_stop)
        self.stdout.write(
            "Starting the database, Redis, web and model worker (the first start takes a minute)…"
        )
        try:
            stack.start()
        except StackError as error:
            self.stderr.write(f"run_stack: {error}")
            raise SystemExit(1) from None
        redis_note = "embedded" if stack.redis else stack.env["REDIS_URL"]
        # Never the URL itself: the embedded server's has its password in it.
        database_note = (
            f"embedded PostgreSQL in {stack.database.root} (its URL: {stack.database.url_file})"
            if stack.database
            else "DATABASE_URL"
        )
        self.stdout.write(
            self.style.SUCCESS(f"\n  Site:   {stack.url}/\n  Admin:  {stack.url}/admin/")
            + f"\n  Login:  {settings.ADMIN_EMAIL}, {password_hint()}"
            f"\n  Model:  {settings.CLASSIFIER_MODEL}"
            f"\n  DB:     {database_note}"
            f"\n  Redis:  {redis_note}; logs in {config.log_dir}\n  Press Ctrl-C to stop.\n"
        )
        exit_code = 0
        while not stopping:
            if stack.web.poll() is not None:
                self.stderr.write("run_stack: the web server exited; stopping.")
                exit_code = 1
                break
            for number, code in stack.restart_dead_workers():
                which = f"worker {number}" if number else "the training worker"
                self.stderr.write(f"run_stack: {which} exited with code {code}; restarted")
            time.sleep(0.5)
        self.stdout.write("Stopping…")
        stack.stop()
        self.stdout.write("Stopped.")
        raise SystemExit(exit_code)
