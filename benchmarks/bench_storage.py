"""Upload latency with images on the local disk vs on an S3 server (SeaweedFS, loopback).

What an upload costs in the web process up to its answer, without a worker (the request
answers 202 at once: PREDICT_WAIT_SECONDS=0): validate, store, create the row, enqueue.
Two cases per storage: new bytes every time (HEAD + PUT on S3) and the same bytes again
(one HEAD on S3; a read-back on disk). Run it on a quiet machine:

    flock -x /work/machine.lock .venv/bin/python -m benchmarks.bench_storage --uploads 200

Uses the Django test client in this process, a throw-away test database created from
DATABASE_URL (default postgres://postgres@127.0.0.1:5432/loadbench) and REDIS_URL's
database (flushed at the end). Prints one line per case.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--uploads", type=int, default=200)
    args = parser.parse_args(argv)
    os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/loadbench")
    os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
    os.environ.setdefault("DEBUG", "1")
    os.environ["THROTTLE_UPLOADS"] = "1000000/min"
    os.environ["PREDICT_WAIT_SECONDS"] = "0"
    os.environ["MEDIA_ROOT"] = tempfile.mkdtemp(prefix="bench-media-")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

    import django

    django.setup()
    import django_rq
    from django.conf import settings
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.test import override_settings
    from django.test.utils import setup_databases, setup_test_environment, teardown_databases
    from rest_framework.test import APIClient

    from testing.photos import distinct_photo, photo_bytes
    from testing.seaweedfs import SeaweedS3

    setup_test_environment()
    databases = setup_databases(verbosity=0, interactive=False)
    server = SeaweedS3().start()
    queue = django_rq.get_queue(settings.INFERENCE_QUEUE)
    try:
        from accounts.models import User

        user = User.objects.create_user(email="bench@example.com", password="x" * 12, name="b")
        client = APIClient()
        client.force_authenticate(user)
        fresh = [distinct_photo(seed) for seed in range(2 * args.uploads + 10)]
        large = photo_bytes("astronaut", "PNG")  # ~0.8 MB: where a read-back costs most

        def timed(contents: list[bytes]) -> list[float]:
            samples = []
            for content in contents:
                started = time.perf_counter()
                response = client.post(
                    "/api/predictions/",
                    {"image": SimpleUploadedFile("p.jpg", content)},
                    format="multipart",
                )
                samples.append((time.perf_counter() - started) * 1000)
                assert response.status_code == 202, response.content
            queue.connection.flushdb()
            return samples

        s3 = {
            "default": {
                "BACKEND": "classifier.s3storage.ImageS3Storage",
                "OPTIONS": {**server.storage_options(prefix="bench"), "max_attempts": 2},
            },
            "staticfiles": settings.STORAGES["staticfiles"],
        }
        storages = [("filesystem", settings.STORAGES), ("s3 (SeaweedFS, loopback)", s3)]
        print(f"{args.uploads} uploads per case, one client, no worker; ms per upload")
        print(f"{'storage':26} {'case':22} {'mean':>7} {'p50':>7} {'p90':>7} {'p99':>7}")
        for index, (label, storage_setting) in enumerate(storages):
            with override_settings(STORAGES=storage_setting):
                timed(fresh[-5:] if index == 0 else fresh[-10:-5])  # warm connections
                batch = fresh[index * args.uploads : (index + 1) * args.uploads]
                cases = [
                    ("new bytes (~30 KB JPEG)", batch),
                    ("same bytes (~30 KB)", [batch[0]] * args.uploads),
                    ("same bytes (0.8 MB PNG)", [large] * args.uploads),
                ]
                for case, contents in cases:
                    samples = sorted(timed(contents))
                    q = statistics.quantiles(samples, n=100)
                    print(
                        f"{label:26} {case:22} {statistics.fmean(samples):7.2f} "
                        f"{q[49]:7.2f} {q[89]:7.2f} {q[98]:7.2f}",
                        flush=True,
                    )
    finally:
        queue.connection.flushdb()
        server.close()
        teardown_databases(databases, verbosity=0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
