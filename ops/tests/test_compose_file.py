"""docker-compose.yml is safe by default: no secret has a default value, .env supplies them.

The stack itself is built and run by deploy/ci/compose-smoke.sh (CI); these checks read the
files a user copies, so a default secret cannot creep back in unnoticed.
"""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys

import pytest
import yaml
from django.conf import settings

from ops.stack import BASE_DIR
from testing.live_stack import subprocess_env

COMPOSE = BASE_DIR / "docker-compose.yml"
ENV_EXAMPLE = BASE_DIR / ".env.example"
SECRETS = {"SECRET_KEY", "POSTGRES_PASSWORD", "S3_SECRET_ACCESS_KEY"}
#: ${NAME}, ${NAME:-default}, ${NAME:?error}
REFERENCE = re.compile(r"\$\{(?P<name>[A-Z_][A-Z0-9_]*)(?P<op>:?[-?])?(?P<rest>[^}]*)\}")


def references() -> list[re.Match]:
    return list(REFERENCE.finditer(COMPOSE.read_text()))


def test_every_secret_is_required_and_has_no_default():
    seen = {match["name"]: [] for match in references()}
    for match in references():
        seen[match["name"]].append(match["op"])
    for name in SECRETS:
        assert seen.get(name), f"{name} is not taken from the environment"
        assert set(seen[name]) == {":?"}, f"{name} must be ${{{name}:?…}}, found {seen[name]}"


def test_no_password_or_key_is_written_in_the_file():
    compose = yaml.safe_load(COMPOSE.read_text())
    for service, spec in compose["services"].items():
        for name, value in (spec.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", name) and value:
                assert str(value).startswith("${"), f"{service}.{name} is written in the file"
    # the admin password: empty by default (no account), never "admin"
    web_env = compose["services"]["web"]["environment"]
    assert web_env["ADMIN_PASSWORD"] == "${ADMIN_PASSWORD:-}"


def test_env_example_names_every_required_variable_and_holds_no_secret():
    example = dict(
        line.split("=", 1)
        for line in ENV_EXAMPLE.read_text().splitlines()
        if line and not line.startswith("#")
    )
    required = {match["name"] for match in references() if match["op"] == ":?"}
    assert required == SECRETS
    for name in required | {"ADMIN_PASSWORD", "METRICS_TOKEN"}:
        assert example[name] == "", f".env.example must leave {name} empty"


def test_env_is_ignored_by_git_and_the_example_is_not():
    def ignored(path: str) -> bool:
        result = subprocess.run(
            ["git", "check-ignore", "-q", path], cwd=BASE_DIR, timeout=30, check=False
        )
        return result.returncode == 0

    assert ignored(".env")
    assert ignored(".admin_password")
    assert not ignored(".env.example")


def test_every_service_comes_back_after_a_crash():
    compose = yaml.safe_load(COMPOSE.read_text())
    for service, spec in compose["services"].items():
        assert spec.get("restart") in {"unless-stopped", "on-failure", "always"}, service


def test_the_trainer_runs_the_training_queue_like_a_worker_with_room_for_a_run():
    """TensorFlow's image, the workers' database, Redis, object store and volumes (it reads
    the photos and stores the new version for a worker to validate), and a memory cap above
    the measured peak of a run on ~1,000 images (2.5 GB, docs/QUALITY.md)."""
    services = yaml.safe_load(COMPOSE.read_text())["services"]
    trainer, worker = services["trainer"], services["worker"]
    assert trainer["image"] == worker["image"] != services["web"]["image"]
    assert trainer["environment"] == worker["environment"]
    assert trainer["volumes"] == worker["volumes"]
    assert trainer["command"][:4] == ["python", "manage.py", "rqworker", settings.TRAINING_QUEUE]
    limit = REFERENCE.fullmatch(trainer["mem_limit"])
    assert limit["name"] == "TRAINER_MEMORY_LIMIT" and limit["op"] == ":-"
    assert limit["rest"].endswith("g") and float(limit["rest"][:-1]) * 2**30 >= 2.5e9


def test_make_env_writes_private_random_secrets_and_never_overwrites(tmp_path):
    script = BASE_DIR / "scripts" / "make-env.sh"
    target = tmp_path / "compose.env"
    first = subprocess.run([script, target], capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    values = dict(
        line.split("=", 1)
        for line in target.read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    secrets = [values[name] for name in sorted(SECRETS | {"ADMIN_PASSWORD", "METRICS_TOKEN"})]
    assert all(len(value) >= 32 for value in secrets)
    assert len(set(secrets)) == len(secrets)
    for value in secrets:  # nothing printed
        assert value not in first.stdout + first.stderr
    # a second run leaves the file alone
    before = target.read_text()
    second = subprocess.run([script, target], capture_output=True, text=True, timeout=60)
    assert second.returncode != 0 and "exists" in second.stderr
    assert target.read_text() == before


@pytest.mark.parametrize("admin_password", ["admin", "password", ""])
def test_web_start_with_debug_off_refuses_a_default_admin_password(
    transactional_db, django_user_model, admin_password
):
    """The web container's start (migrate && ensure_superuser && …) with DEBUG=0: a default
    password stops it; none makes no account and says how to make one."""
    compose = yaml.safe_load(COMPOSE.read_text())
    assert "python manage.py ensure_superuser &&" in compose["services"]["web"]["command"]
    env = subprocess_env(
        DEBUG="0",
        HTTPS="0",
        SECRET_KEY="k3y-" + "x7Qp9Lm2Zr8Vt4Ws6Yn1Bc5Hd0Jf3Gk" * 2,
        ALLOWED_HOSTS="localhost",
        ADMIN_EMAIL="ops@example.com",
        ADMIN_PASSWORD=admin_password,
    )
    result = subprocess.run(
        [sys.executable, "manage.py", "ensure_superuser"],
        cwd=BASE_DIR,
        env={"PATH": os.environ["PATH"], **env},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert not django_user_model.objects.filter(email="ops@example.com").exists()
    if admin_password:
        assert result.returncode != 0
        assert "ADMIN_PASSWORD is refused for ops@example.com" in result.stderr
        assert "too common" in result.stderr
    else:
        assert result.returncode == 0, result.stderr
        assert "no operator account created" in result.stdout
        assert "createsuperuser" in result.stdout
