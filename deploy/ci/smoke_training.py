"""The trainer drains the training queue (run by deploy/ci/compose_smoke.py): a tiny run
started with the web's `train_model` ends `done`, and the model worker validates the version
the trainer stored in the object store."""

from __future__ import annotations

import hashlib
import re
import subprocess
import time
from functools import partial

import requests
from smoke_client import TIMEOUT, Containers, Site, api_headers, check, ok, photo

TRAINING_CLASSES = {"cat": "chelsea", "coffee": "coffee"}  # class: scikit-image's sample
PER_CLASS = 4  # three photos to train on and one to validate with, per class


def training_photos(containers: Containers) -> list[tuple[str, bytes]]:
    """(class, JPEG) pairs: per class, crops on both sides of the train/validation split, by
    the app's own rule (`training.selectors.split_for`, asked in the web container)."""
    crops = {
        label: {hashlib.sha256(p).hexdigest(): p for p in map(partial(photo, sample), range(40))}
        for label, sample in TRAINING_CLASSES.items()
    }
    digests = sorted(digest for by_digest in crops.values() for digest in by_digest)
    code = f"from training.selectors import split_for\nfor d in {digests!r}: print(d, split_for(d))"
    answer = containers.manage("web", "shell", "-c", code)
    check(answer.returncode == 0, f"split_for in the web container: {answer.stderr[-800:]}")
    side = dict(line.split() for line in answer.stdout.splitlines() if len(line.split()) == 2)
    chosen = []
    for label, by_digest in crops.items():
        train = [p for d, p in by_digest.items() if side[d] == "train"][: PER_CLASS - 1]
        validation = [p for d, p in by_digest.items() if side[d] == "validation"][:1]
        check(len(train + validation) == PER_CLASS, f"{label}: too few crops on a side")
        chosen += [(label, content) for content in train + validation]
    return chosen


def check_training(site: Site, email: str, password: str, docker: str, project: str) -> None:
    """The trainer drains the training queue: a tiny run (two new classes, four corrected
    photos each) started with the web's `train_model` ends `done`, and the model worker
    validates the version it stored in the object store."""
    containers = Containers(docker, project)
    trainer = containers.container("trainer")
    health = containers.inspect(trainer, "{{.State.Health.Status}}")
    check(health == "healthy", f"trainer container {health}")
    ok("trainer: healthy (a training worker of its host heart-beats on the training queue)")
    headers = api_headers(site, email, password)
    for label, content in training_photos(containers):
        answer = requests.post(
            f"{site.url}/api/predictions/",
            headers=headers,
            files={"image": (f"{label}.jpg", content, "image/jpeg")},
            timeout=TIMEOUT,
        )
        check(answer.status_code in (201, 202), f"upload: {answer.status_code} {answer.text}")
        prediction = site.wait_until_finished(headers, answer.json(), seconds=120)
        check(prediction["status"] == "done", f"training photo ended {prediction}")
        feedback = requests.post(
            f"{site.url}/api/feedback/",
            headers=headers,
            json={"prediction": prediction["id"], "is_correct": False, "correct_label": label},
            timeout=TIMEOUT,
        )
        check(feedback.status_code == 201, f"correction: {feedback.status_code} {feedback.text}")
    ok(f"training: {PER_CLASS} photos per class uploaded and corrected to {list(TRAINING_CLASSES)}")
    command = ["train_model", "--base", "efficientnet_lite0:1", "--labels", "new"]
    command += ["--classes", ",".join(TRAINING_CLASSES), "--name", "smoke", "--timeout", "240"]
    refused = containers.manage("web", *command)
    check(
        refused.returncode != 0 and "Too few labelled images" in refused.stderr,
        f"the default minimum per class let it start: {refused.stdout[-500:]}",
    )
    ok("training: refused with the default minimum per class (TRAINING_MIN_IMAGES_PER_CLASS)")
    started = time.monotonic()
    env = {"TRAINING_MIN_IMAGES_PER_CLASS": str(PER_CLASS)}
    run = containers.manage("web", *command, env=env, timeout=300)
    printed = run.stdout.replace("\r", "\n")
    check(run.returncode == 0, f"train_model: {printed[-1500:]} {run.stderr[-1500:]}")
    registered = re.search(r"registered (smoke v\d+)", printed)
    check(registered is not None, f"no version registered: {printed[-1500:]}")
    accuracy = re.search(r"validation accuracy .*", printed)
    ok(f"training: done by the trainer in {time.monotonic() - started:.0f} s"
       f" ({accuracy.group(0) if accuracy else '?'})")  # fmt: skip
    version = registered.group(1)
    deadline = time.monotonic() + 180
    while True:
        listed = containers.manage("web", "list_models").stdout
        found = re.search(rf"^[* ] {re.escape(version)}\s+(\w+)", listed, re.MULTILINE)
        state = found.group(1) if found else "missing"
        if state not in ("validating", "missing"):
            break
        check(time.monotonic() < deadline, f"{version} still {state} after 180 s")
        time.sleep(3)
    check(state == "ready", f"{version} {state}: {listed}")
    memory = subprocess.run(
        [docker, "stats", "--no-stream", "--format", "{{.MemUsage}}", trainer],
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout.strip()
    ok(f"training: {version} validated by the model worker (ready); trainer memory {memory}")
