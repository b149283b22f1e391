"""A hand-computed fixture: known feedback → known accuracy, interval, confusions, buckets.

Model "model-a" (10 predictions, 9 verdicts):
  p1-p4  tabby 0.95  said right                       (day 1)
  p5     tabby 0.95  said wrong → tiger_cat (in top 5) (day 1)
  p6     tabby 0.55  said wrong → tiger_cat (in top 5) (day 2)
  p7     tabby 0.55  said wrong → lynx (not in top 5)  (day 2), reviewed "lynx"
  p8     goldfish 0.15  said wrong, "my neighbour's cat" (no class) (day 2)
  p9     goldfish 0.15  no feedback                    (day 2)
  p10    goldfish 0.55  said right                     (day 2)
Model "model-b" (2 predictions): q1 tabby 0.95 said right, reviewed "tabby";
  q2 tabby 0.95 no feedback, reviewed "lynx" (day 2).
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.utils import timezone

from classifier.models import Prediction
from feedback.labels import rank_in_top
from feedback.models import Feedback
from quality.models import ReviewedLabel

TOP5 = {
    "tabby": ["tabby", "tiger_cat", "Egyptian_cat", "Persian_cat", "Siamese_cat"],
    "goldfish": ["goldfish", "tench", "koi", "axolotl", "eel"],
}


def day(n: int):
    """Noon of day 1 or 2 of the fixture (yesterday and the day before)."""
    today = timezone.now().replace(hour=12, minute=0, second=0, microsecond=0)
    return today - timedelta(days=3 - n)


def make(owner, name, label, score, model="model-a", when=1):
    labels = TOP5[label]
    prediction = Prediction.objects.create(
        owner=owner,
        image=f"images/{name}.jpg",
        image_sha256=hashlib.sha256(name.encode()).hexdigest(),
        model_name=model,
        status=Prediction.Status.DONE,
        label=label,
        score=score,
        top5=[{"label": top, "score": round(score / (i + 1), 4)} for i, top in enumerate(labels)],
    )
    Prediction.objects.filter(pk=prediction.pk).update(created_at=day(when))
    prediction.refresh_from_db()
    return prediction


def say(prediction, is_correct, correct_label="", other_label=""):
    """Feedback as `give_feedback` stores it (rank included), written directly."""
    return Feedback.objects.create(
        correct_rank=1 if is_correct else rank_in_top(correct_label, prediction.top5),
        user=prediction.owner,
        prediction=prediction,
        is_correct=is_correct,
        correct_label=correct_label,
        other_label=other_label,
        predicted_label=prediction.label,
        score=prediction.score,
    )


def review(prediction, label, reviewer=None):
    return ReviewedLabel.objects.create(
        prediction=prediction,
        image_sha256=prediction.image_sha256,
        label=label,
        rank=rank_in_top(label, prediction.top5),
        reviewer=reviewer,
    )


def build(owner) -> dict:
    p = {}
    for i in range(1, 5):
        p[i] = make(owner, f"p{i}", "tabby", 0.95)
        say(p[i], True)
    p[5] = make(owner, "p5", "tabby", 0.95)
    say(p[5], False, "tiger_cat")
    p[6] = make(owner, "p6", "tabby", 0.55, when=2)
    say(p[6], False, "tiger_cat")
    p[7] = make(owner, "p7", "tabby", 0.55, when=2)
    say(p[7], False, "lynx")
    review(p[7], "lynx")
    p[8] = make(owner, "p8", "goldfish", 0.15, when=2)
    say(p[8], False, other_label="my neighbour's cat")
    p[9] = make(owner, "p9", "goldfish", 0.15, when=2)
    p[10] = make(owner, "p10", "goldfish", 0.55, when=2)
    say(p[10], True)
    q1 = make(owner, "q1", "tabby", 0.95, model="model-b", when=2)
    say(q1, True)
    review(q1, "tabby")
    q2 = make(owner, "q2", "tabby", 0.95, model="model-b", when=2)
    review(q2, "lynx")
    p["q1"], p["q2"] = q1, q2
    return p
