"""The Kubernetes chart (deploy/chart/) as Helm renders it, held against the code it deploys.

CI also runs deploy/chart_check.py (scripts/check_chart.sh); these tests keep the facts the
chart and the app must agree on from drifting apart.
"""

import copy
import http.client
import http.server
import json
import os
import re
import string
import subprocess
import sys
import threading
import uuid

import django_rq
import pytest
import yaml
from django.conf import settings
from helm_python.errors import HelmError

from deploy import chart_check
from deploy.chart_check import CHART, problems, render
from testing import nginx as nginx_harness

FULL_VALUES = CHART / "ci" / "full-values.yaml"


@pytest.fixture(scope="module")
def default_objects():
    return render()


@pytest.fixture(scope="module")
def full_objects():
    return render([FULL_VALUES])


def one(objects, kind, suffix=""):
    (found,) = [o for o in objects if o["kind"] == kind and o["metadata"]["name"].endswith(suffix)]
    return found


def containers(objects):
    for obj in objects:
        if obj["kind"] in ("Deployment", "Job"):
            spec = obj["spec"]["template"]["spec"]
            for container in spec.get("initContainers", []) + spec["containers"]:
                yield obj, spec, container


def env_of(objects, container) -> dict[str, str]:
    """The container's environment as Kubernetes would give it: ConfigMap and Secret first,
    then `env` with $(VAR) references expanded."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        if "configMapRef" in source:
            env.update(one(objects, "ConfigMap", source["configMapRef"]["name"])["data"])
        else:
            secrets = [o for o in objects if o["kind"] == "Secret"]
            env.update(secrets[0]["stringData"] if secrets else {})
    for variable in container.get("env", []):
        if "value" in variable:
            env[variable["name"]] = re.sub(
                r"\$\((\w+)\)", lambda m: env[m.group(1)], variable["value"]
            )
        else:
            key = variable["valueFrom"]["secretKeyRef"]["key"]
            env[variable["name"]] = one(objects, "Secret")["stringData"][key]
    return env


@pytest.mark.django_db
def test_the_scaler_watches_the_list_the_app_enqueues_to(default_objects, clean_redis):
    from classifier.queueing import enqueue_prediction

    trigger = one(default_objects, "ScaledObject")["spec"]["triggers"][0]
    assert trigger["type"] == "redis"
    assert trigger["metadata"]["listName"] == django_rq.get_queue(settings.INFERENCE_QUEUE).key

    # The app's own enqueue puts the job id on exactly that list, which KEDA counts (LLEN).
    prediction_id = str(uuid.uuid4())
    enqueue_prediction(prediction_id=prediction_id)
    waiting = clean_redis.lrange(trigger["metadata"]["listName"], 0, -1)
    assert [job_id.decode() for job_id in waiting] == [prediction_id]


def test_the_scaler_reads_the_redis_the_app_queues_on(full_objects):
    scaled = one(full_objects, "ScaledObject")
    metadata = scaled["spec"]["triggers"][0]["metadata"]
    worker = one(full_objects, "Deployment", "-worker")["spec"]["template"]["spec"]
    app_url = env_of(full_objects, worker["containers"][0])["REDIS_URL"]
    # rediss://:PASSWORD@host:port/db, the password from the same Secret key KEDA reads.
    assert app_url == (f"rediss://:ci-only-queue@{metadata['address']}/{metadata['databaseIndex']}")
    assert metadata["enableTLS"] == "true"
    auth = one(full_objects, "TriggerAuthentication")
    assert scaled["spec"]["triggers"][0]["authenticationRef"]["name"] == auth["metadata"]["name"]
    assert auth["spec"]["secretTargetRef"] == [
        {
            "parameter": "password",
            "name": one(full_objects, "Secret")["metadata"]["name"],
            "key": "REDIS_PASSWORD",
        }
    ]


def test_every_object_is_valid_for_kubernetes_and_keda(default_objects, full_objects):
    assert list(problems(default_objects)) == []
    assert list(problems(full_objects)) == []
    assert chart_check.lint_findings() == []


def test_the_check_finds_an_unknown_field_and_a_bad_scaler_setting(default_objects):
    # A copy: the rendered objects are shared by the module's other tests.
    default_objects = copy.deepcopy(default_objects)
    web = one(default_objects, "Deployment", "-web")
    web["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {"exec": {}}
    scaled = one(default_objects, "ScaledObject")
    scaled["spec"]["triggers"][0]["metadata"]["listLength"] = 32
    found = list(problems([web, scaled]))
    assert any("'readinesProbe' was unexpected" in line for line in found), found
    assert any("listLength: 32 is not of type 'string'" in line for line in found), found


@pytest.mark.parametrize(
    ("secret_values", "message"),
    [
        ({"SECRET_KEY": "too-short"}, "minLength"),
        ({"SECRET_KEY": "change-me-" * 6, "DATABASE_URL": "postgres://x@db/x"}, "placeholder"),
        ({"SECRET_KEY": "k" * 60}, "DATABASE_URL is required"),
    ],
)
def test_a_chart_made_secret_refuses_unsafe_or_missing_values(secret_values, message):
    with pytest.raises(HelmError, match=message):
        render(overrides={"secret": {"create": True, "values": secret_values}})


def test_no_secret_is_made_by_default_and_pods_read_the_operators(default_objects):
    assert not [o for o in default_objects if o["kind"] == "Secret"]
    for _, _, container in containers(default_objects):
        if container["name"] in ("nginx", "copy-static"):
            continue
        refs = [s["secretRef"]["name"] for s in container["envFrom"] if "secretRef" in s]
        assert refs == ["imageclassifier"], container["name"]


def test_every_container_runs_as_non_root_on_a_read_only_filesystem(full_objects):
    for obj, pod, container in containers(full_objects):
        where = f"{obj['metadata']['name']}/{container['name']}"
        assert pod["securityContext"]["runAsNonRoot"] is True, where
        assert container["securityContext"]["readOnlyRootFilesystem"] is True, where
        assert container["securityContext"]["allowPrivilegeEscalation"] is False, where
        assert container["resources"]["requests"], where
        assert any(m["mountPath"] == "/tmp" for m in container["volumeMounts"]), where


def test_probes_say_ready_on_database_and_redis_and_alive_on_the_process(default_objects):
    web = one(default_objects, "Deployment", "-web")["spec"]["template"]["spec"]
    gunicorn = next(c for c in web["containers"] if c["name"] == "web")
    assert gunicorn["readinessProbe"]["httpGet"]["path"] == "/api/health/ready/"
    assert gunicorn["livenessProbe"]["httpGet"]["path"] == "/api/health/live/"
    headers = {h["name"]: h["value"] for h in gunicorn["readinessProbe"]["httpGet"]["httpHeaders"]}
    # The probe's Host must be one ALLOWED_HOSTS accepts, and https so no redirect answers.
    assert headers == {"Host": "classifier.example.com", "X-Forwarded-Proto": "https"}
    worker = one(default_objects, "Deployment", "-worker")["spec"]["template"]["spec"]
    probe = worker["containers"][0]
    assert probe["readinessProbe"]["exec"]["command"][-1] == "worker_alive"
    assert "worker_alive" not in " ".join(probe["livenessProbe"]["exec"]["command"])


def memory_bytes(quantity: str) -> float:
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "K": 1e3, "M": 1e6, "G": 1e9}
    number, unit = re.fullmatch(r"([\d.]+)([KMG]i?)?", quantity).groups()
    return float(number) * units.get(unit or "", 1)


def test_the_trainer_drains_the_training_queue_as_compose_runs_it(default_objects, full_objects):
    """One trainer by default (0 allowed), from the worker image, with compose's command and
    healthcheck (ops/tests/test_worker_alive.py runs those), the model worker's database,
    Redis and object store, and room for the measured peak of a run (2.5 GB)."""
    deployment = one(default_objects, "Deployment", "-trainer")
    assert deployment["spec"]["replicas"] == 1
    assert one(full_objects, "Deployment", "-trainer")["spec"]["replicas"] == 0
    pod = deployment["spec"]["template"]["spec"]
    (trainer,) = pod["containers"]
    worker = one(default_objects, "Deployment", "-worker")["spec"]["template"]["spec"]
    assert trainer["image"] == worker["containers"][0]["image"]
    compose = yaml.safe_load((settings.BASE_DIR / "docker-compose.yml").read_text())["services"]
    assert trainer["command"] == compose["trainer"]["command"]
    assert settings.TRAINING_QUEUE in trainer["command"]
    probe = trainer["readinessProbe"]["exec"]["command"]
    assert ["CMD", *probe] == compose["trainer"]["healthcheck"]["test"]
    assert memory_bytes(trainer["resources"]["limits"]["memory"]) >= 2.5e9

    full = one(full_objects, "Deployment", "-trainer")["spec"]["template"]["spec"]
    full_worker = one(full_objects, "Deployment", "-worker")["spec"]["template"]["spec"]
    shared = ("DATABASE_URL", "REDIS_URL", "STORAGE_BACKEND", "S3_ENDPOINT_URL", "S3_BUCKET")
    trainer_env = env_of(full_objects, full["containers"][0])
    worker_env = env_of(full_objects, full_worker["containers"][0])
    assert {k: trainer_env[k] for k in shared} == {k: worker_env[k] for k in shared}
    volume = next(v for v in full["volumes"] if v["name"] == "model-cache")
    assert volume["persistentVolumeClaim"] == {"claimName": "classifier-training-cache"}


def test_the_pods_nginx_is_the_repositorys_config_with_the_client_scheme(default_objects):
    template = (CHART.parent / "nginx" / "classifier.conf.template").read_text()
    rendered = one(default_objects, "ConfigMap", "-nginx")["data"]["default.conf.template"]
    scheme_line = "proxy_set_header X-Forwarded-Proto $scheme;"
    assert scheme_line not in rendered
    assert rendered.endswith(
        template.replace(
            scheme_line, "proxy_set_header X-Forwarded-Proto $classifier_client_scheme;"
        )
    )
    nginx = next(
        c
        for c in one(default_objects, "Deployment", "-web")["spec"]["template"]["spec"][
            "containers"
        ]
        if c["name"] == "nginx"
    )
    env = {e["name"]: e["value"] for e in nginx["env"]}
    upload_mb = int(one(default_objects, "ConfigMap", "imageclassifier")["data"]["MAX_UPLOAD_MB"])
    assert env["CLASSIFIER_MAX_BODY"] == f"{upload_mb + 1}m"


@pytest.mark.slow
def test_the_apps_settings_load_from_the_charts_environment(full_objects, tmp_path):
    """The web container's environment passes Django's deployment checks (DEBUG off)."""
    web = one(full_objects, "Deployment", "-web")["spec"]["template"]["spec"]
    env = env_of(full_objects, next(c for c in web["containers"] if c["name"] == "web"))
    result = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=settings.BASE_DIR,
        env={"PATH": os.environ["PATH"], **env, "HOME": str(tmp_path)},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr


class EchoHeaders(http.server.BaseHTTPRequestHandler):
    """Stands in for gunicorn: answers with the headers nginx sent it."""

    def do_GET(self):
        body = json.dumps(dict(self.headers.items())).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.slow
def test_the_pods_nginx_passes_on_the_ingress_scheme_and_client_address(tmp_path, monkeypatch):
    """Debian's nginx runs the chart's rendered config: what the Ingress (a trusted address,
    127.0.0.2 here) says about the client reaches gunicorn; what anyone else says does not
    change the address nginx counts."""
    ingress = "127.0.0.2"
    objects = render(overrides={"web": {"trustedProxyCIDRs": [f"{ingress}/32"]}})
    site = one(objects, "ConfigMap", "-nginx")["data"]["default.conf.template"]
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), EchoHeaders)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    values = {
        "CLASSIFIER_LISTEN": "",  # filled by Nginx.start's own listen line below
        "CLASSIFIER_UPSTREAM": f"127.0.0.1:{upstream.server_port}",
        "CLASSIFIER_STATIC_ROOT": str(tmp_path / "static"),
        "CLASSIFIER_MAX_BODY": "11m",
    }

    def chart_site(*, listen, **_):
        return string.Template(site).safe_substitute({**values, "CLASSIFIER_LISTEN": listen})

    monkeypatch.setattr(nginx_harness, "render_nginx_site", chart_site)

    def headers_seen(source, sent):
        connection = http.client.HTTPConnection(
            "127.0.0.1", nginx.port, timeout=10, source_address=(source, 0)
        )
        try:
            connection.request("GET", "/api/anything", headers=sent)
            return json.loads(connection.getresponse().read())
        finally:
            connection.close()

    nginx = nginx_harness.Nginx(
        upstream="unused", static_root=tmp_path / "static", work_dir=tmp_path / "nginx",
        max_body="11m",
    )  # fmt: skip
    try:
        with nginx:
            behind_ingress = headers_seen(
                ingress,
                {"Host": "classifier.example.com:8443", "X-Forwarded-Proto": "https",
                 "X-Forwarded-For": "198.51.100.1, 203.0.113.7"},
            )  # fmt: skip
            direct = headers_seen(
                "127.0.0.1", {"Host": "classifier.example.com", "X-Forwarded-For": "203.0.113.9"}
            )
    finally:
        upstream.shutdown()
    assert behind_ingress["X-Forwarded-Proto"] == "https"
    assert behind_ingress["Host"] == "classifier.example.com:8443"
    # The client the Ingress saw (the last entry it appended) is the address nginx counts
    # and appends: Django's NUM_PROXIES=2 picks it, never the made-up first entry.
    assert behind_ingress["X-Real-IP"] == "203.0.113.7"
    assert behind_ingress["X-Forwarded-For"].split(", ")[-2:] == ["203.0.113.7", "203.0.113.7"]
    # Not from the Ingress: the made-up header changes nothing, the scheme is nginx's own.
    assert direct["X-Real-IP"] == "127.0.0.1"
    assert direct["X-Forwarded-Proto"] == "http"
