"""Which product files one upload passes through, web side and worker side (a measurement).

    .venv/bin/python -m pytest scripts/trace_upload_path.py -q -s

Traces (sys.setprofile; function calls, not module imports) after a warm-up upload: an API
upload answered 202, one batch of the in-process worker, and
the result read with ?wait, against the test database and Redis; prints each side's product
files (tests, fixtures and third-party code left out) and their count.
"""

import sys
from pathlib import Path

from django.core.files.uploadedfile import SimpleUploadedFile

from testing.photos import distinct_photo

ROOT = Path(__file__).resolve().parent.parent
APPS = ("accounts", "classifier", "feedback", "quality", "mlworker", "ops", "monitoring", "config")


def product_file(code) -> str | None:
    try:
        relative = Path(code.co_filename).relative_to(ROOT)
    except ValueError:
        return None
    if relative.parts[0] in APPS and "tests" not in relative.parts:
        return str(relative)
    return None


#: (caller's file, callee's file) for calls from one product file into another
HOPS: set[tuple[str, str]] = set()


def traced(action) -> set[str]:
    seen: set[str] = set()

    def profile(frame, event, arg):
        if event == "call" and frame.f_code.co_name != "<module>":  # calls, not imports
            callee = product_file(frame.f_code)
            if callee is None:
                return
            seen.add(callee)
            caller = frame.f_back
            while caller is not None and product_file(caller.f_code) is None:
                caller = caller.f_back  # through third-party frames (Django, DRF, RQ)
            if caller is not None and product_file(caller.f_code) != callee:
                HOPS.add((product_file(caller.f_code), callee))

    sys.setprofile(profile)
    try:
        action()
    finally:
        sys.setprofile(None)
    return seen


def test_files_one_upload_passes_through(api_client, run_worker, settings):
    settings.PREDICT_WAIT_SECONDS = 0
    warm = SimpleUploadedFile("w.jpg", distinct_photo(6), content_type="image/jpeg")
    api_client.post("/api/predictions/", {"image": warm}, format="multipart")
    run_worker()  # warm: imports, the model's first pass and URL maps are not an upload's
    image = SimpleUploadedFile("p.jpg", distinct_photo(7), content_type="image/jpeg")
    answers = {}

    def upload():
        answers["upload"] = api_client.post(
            "/api/predictions/", {"image": image}, format="multipart"
        )

    web = traced(upload)
    assert answers["upload"].status_code == 202
    worker = traced(run_worker)
    url = answers["upload"].json()["url"]
    web |= traced(lambda: answers.setdefault("result", api_client.get(f"{url}?wait=5")))
    assert answers["result"].json()["status"] == "done"
    models = {f for f in worker if f.startswith("mlworker/models/")}
    for side, files in (("web", web), ("worker", worker - models)):
        print(f"\n{side}: {len(files)} files")
        for name in sorted(files):
            print(f"  {name}")
    hops = {(a, b) for a, b in HOPS if not a.startswith("mlworker/models/")}
    hops = {(a, b) for a, b in hops if not b.startswith("mlworker/models/")}
    print(f"\ncalls from one file into another (distinct pairs): {len(hops)}")
    for caller, callee in sorted(hops):
        print(f"  {caller} -> {callee}")
    print(f"\nworker's model files (not counted above): {len(models)}")
    print(f"total (web + worker, model files apart): {len(web | (worker - models))}")
