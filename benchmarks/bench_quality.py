"""Time the quality dashboard's queries on a realistically sized, separate PostgreSQL database.

    flock -x -w 1800 /work/machine.lock .venv/bin/python -m benchmarks.bench_quality \
        --database-url postgres://postgres@127.0.0.1:5432/ic_quality_bench

Fills the database once (100 000 answered predictions over 90 days from 3 models and 200
users, 20 000 feedbacks, 2 000 reviewed labels; a fixed seed), then runs `selectors.dashboard`
for the whole 90 days and for the default last 30 days, plus the review queue's first page,
and prints the median/min/max wall time of each (warm, after one untimed run). Never point it
at a database you care about: `--refill` drops every prediction in it.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from urllib.parse import urlsplit

from benchmarks.load.system import ensure_postgres_database


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--database-url", default="postgres://postgres@127.0.0.1:5432/ic_quality_bench"
    )
    parser.add_argument("--predictions", type=int, default=100_000)
    parser.add_argument("--feedbacks", type=int, default=20_000)
    parser.add_argument("--reviewed", type=int, default=2_000)
    parser.add_argument("--repeat", type=int, default=15)
    parser.add_argument("--refill", action="store_true", help="Drop and regenerate the data.")
    return parser.parse_args(argv)


def ensure_database(url: str) -> None:
    """Create the benchmark database if it does not exist (never the default one)."""
    if urlsplit(url).path.lstrip("/") in ("", "postgres"):
        sys.exit("Pick a separate database name for the benchmark.")
    ensure_postgres_database(url)


def fill(args) -> None:
    import numpy as np
    from django.contrib.auth import get_user_model
    from django.utils import timezone

    from classifier.labels import IMAGENET_LABELS
    from classifier.models import Prediction
    from feedback.labels import rank_in_top
    from feedback.models import Feedback
    from quality.models import ReviewedLabel

    rng = np.random.default_rng(12)
    User = get_user_model()
    users = User.objects.bulk_create(
        [User(email=f"bench{i}@example.com", name=f"bench {i}") for i in range(200)]
    )
    models = ["resnet50", "efficientnet_lite0", "efficientnet_lite0 (onnxruntime)"]
    now = timezone.now()  # spread over 90 days afterwards (created_at is auto_now_add)
    labels = np.array(IMAGENET_LABELS)
    popularity = 1 / np.arange(1, len(labels) + 1) ** 0.8  # a few classes are common
    popularity /= popularity.sum()
    batch, made = [], 0
    for index in range(args.predictions):
        top = rng.choice(len(labels), size=5, replace=False, p=popularity)
        score = float(rng.beta(4, 2))
        rest = np.sort(rng.dirichlet(np.ones(4)) * (1 - score))[::-1]
        scores = [score, *rest.tolist()]
        sha = hashlib.sha256(f"bench-{index % 97_000}".encode()).hexdigest()  # some repeats
        batch.append(
            Prediction(
                owner=users[index % len(users)],
                image=f"images/{sha[:2]}/{sha}.jpg",
                image_sha256=sha,
                original_filename="photo.jpg",
                status=Prediction.Status.DONE,
                label=str(labels[top[0]]),
                score=score,
                top5=[
                    {"label": str(labels[t]), "score": round(s, 4)}
                    for t, s in zip(top, scores, strict=True)
                ],
                model_name=models[index % len(models)],
                finished_at=now,
            )
        )
        if len(batch) == 5000:
            Prediction.objects.bulk_create(batch)
            made += len(batch)
            batch = []
            print(f"  {made} predictions", file=sys.stderr)
    Prediction.objects.bulk_create(batch)
    predictions = list(
        Prediction.objects.values_list("pk", "owner_id", "label", "score", "top5", "image_sha256")
    )
    chosen = rng.choice(len(predictions), size=args.feedbacks, replace=False)
    feedback = []
    for position in chosen:
        pk, owner_id, label, score, top5, _ = predictions[position]
        right = rng.random() < score  # roughly calibrated users' verdicts
        if right:
            correct, other = "", ""
        elif rng.random() < 0.5:
            correct, other = top5[int(rng.integers(1, 5))]["label"], ""
        elif rng.random() < 0.9:
            correct, other = str(rng.choice(labels, p=popularity)), ""
        else:
            correct, other = "", f"something else {int(rng.integers(0, 50))}"
        feedback.append(
            Feedback(
                user_id=owner_id,
                prediction_id=pk,
                is_correct=bool(right),
                correct_label=correct,
                other_label=other,
                correct_rank=1 if right else rank_in_top(correct, top5),
                predicted_label=label,
                score=score,
            )
        )
    Feedback.objects.bulk_create(feedback, batch_size=5000)
    reviewer = User.objects.create_user(email="bench-reviewer@example.com", is_staff=True)
    reviewed = []
    for position in chosen[: args.reviewed]:
        pk, _, label, _, top5, sha = predictions[position]
        truth = label if rng.random() < 0.6 else str(rng.choice(labels, p=popularity))
        reviewed.append(
            ReviewedLabel(
                prediction_id=pk,
                image_sha256=sha,
                label=truth,
                rank=rank_in_top(truth, top5),
                reviewer=reviewer,
            )
        )
    ReviewedLabel.objects.bulk_create(reviewed, batch_size=5000)


def spread_times(args) -> None:
    """auto_now_add overwrote created_at: spread predictions over 90 days in SQL."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE classifier_prediction SET created_at = now() - "
            "(abs(hashtext(id::text)) % (90 * 86400)) * interval '1 second'"
        )
        cursor.execute("VACUUM ANALYZE")  # the UPDATE left dead rows; index-only scans need it


def timed(function, repeat: int) -> list[float]:
    function()  # warm: plans cached, pages in shared buffers
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append((time.perf_counter() - started) * 1000)
    return times


def main(argv=None) -> None:
    args = parse_args(argv)
    ensure_database(args.database_url)
    os.environ["DATABASE_URL"] = args.database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    os.environ.setdefault("DEBUG", "1")
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.core.management import call_command
    from django.db import connection

    from classifier.models import Prediction
    from feedback.models import Feedback
    from quality import queue, selectors

    call_command("migrate", verbosity=0)
    if args.refill or Prediction.objects.count() != args.predictions:
        get_user_model().objects.filter(email__startswith="bench").delete()  # cascades
        print("Filling the benchmark database…", file=sys.stderr)
        started = time.perf_counter()
        fill(args)
        spread_times(args)
        print(f"  filled in {time.perf_counter() - started:.0f} s", file=sys.stderr)

    print(
        f"database: {connection.settings_dict['NAME']} · "
        f"{Prediction.objects.count()} predictions, {Feedback.objects.count()} feedbacks, "
        f"PostgreSQL {connection.pg_version // 10000}"
    )
    whole = selectors.Period.last_days(91)
    cases = {
        "dashboard, 90 days (all rows)": lambda: selectors.dashboard(whole),
        "dashboard, last 30 days": lambda: selectors.dashboard(selectors.Period.last_days(30)),
        "dashboard, 90 days, one model": lambda: selectors.dashboard(
            selectors.Period(start=whole.start, end=whole.end, model_name="resnet50")
        ),
        "review queue, first page": lambda: list(queue.review_queue()[:20]),
    }
    print(f"{'case':34} {'median':>9} {'min':>9} {'max':>9}  (ms, {args.repeat} runs)")
    for name, function in cases.items():
        times = timed(function, args.repeat)
        print(f"{name:34} {statistics.median(times):9.1f} {min(times):9.1f} {max(times):9.1f}")


if __name__ == "__main__":
    main()
