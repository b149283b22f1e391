"""The trained digits version on trial beside the live model, for `test_train_digits`: shadow
on a share of uploads (checked against the hash of each prediction id and the dashboard's
figures recomputed here from the rows), then canary on a share of users (the Wilson
figures recomputed here from the users' own verdicts).
"""

from __future__ import annotations

import math
import time
from itertools import count

import requests
from django.contrib.auth.models import Permission

from classifier.models import Prediction, ShadowAnswer
from feedback.models import Feedback
from ops.stack import wait_until
from registry import services, spec
from testing.live_stack import live_auth_headers

SHADOW_SHARE = 50
CANARY_SHARE = 50
Z_95 = 1.959963984540054


def wilson(successes: int, total: int) -> tuple[float, float, float]:
    """The test's own Wilson 95 % interval: (rate, low, high)."""
    p = successes / total
    z2 = Z_95 * Z_95
    denominator = 1 + z2 / total
    centre = (p + z2 / (2 * total)) / denominator
    half = Z_95 * math.sqrt(p * (1 - p) / total + z2 / (4 * total * total)) / denominator
    return p, max(0.0, centre - half), min(1.0, centre + half)


def assert_proportion(figure: dict, successes: int, total: int) -> None:
    assert (figure["successes"], figure["total"]) == (successes, total), figure
    rate, low, high = wilson(successes, total)
    assert math.isclose(figure["rate"], rate, abs_tol=1e-9), figure
    assert math.isclose(figure["low"], low, abs_tol=1e-9), figure
    assert math.isclose(figure["high"], high, abs_tol=1e-9), figure


def staff_client(client, make_user, email: str, *codenames: str):
    person = make_user(email=email, is_staff=True)
    for codename in codenames:
        person.user_permissions.add(Permission.objects.get(codename=codename))
    client.force_login(person)
    return person


def trials_api(client) -> dict:
    response = client.get("/api/quality/trials/")
    assert response.status_code == 200, response.content
    return response.json()


def run_shadow(ctx, version, photos, digits, probes) -> dict:
    """Shadow on SHADOW_SHARE % of uploads, set in the admin; held-out digits uploaded;
    shadow disagreements reviewed from the queue; the dashboard's figures checked."""
    admin = ctx.make_user(email="ops@example.com", is_staff=True, is_superuser=True)
    ctx.client.force_login(admin)
    response = ctx.client.post(
        "/admin/registry/modelversion/",
        {"action": "shadow", "index": 0, "_selected_action": [version.pk], "share": SHADOW_SHARE},
    )
    assert response.status_code == 302
    version.refresh_from_db()
    assert (version.trial, version.trial_share) == ("shadow", SHADOW_SHARE)

    # The worker re-reads the candidate within MODEL_LIVE_CHECK_SECONDS and loads it: until a
    # probe gets a shadow answer, uploads may have none.
    probe = iter(probes)
    wait_until(
        lambda: ShadowAnswer.objects.filter(
            prediction__in=[a["id"] for a in ctx.answers(ctx.upload_all([next(probe)]))]
        ).exists(),
        timeout=300,
        interval=0,
        what="a shadow answer from the candidate",
    )
    answers = ctx.answers(ctx.upload_all(photos))
    ids = [answer["id"] for answer in answers]
    shadowed = {
        str(pk): label
        for pk, label in ShadowAnswer.objects.filter(prediction__in=ids).values_list(
            "prediction", "label"
        )
    }
    assert set(shadowed) == {pk for pk in ids if spec.in_share(spec.SHADOW, pk, SHADOW_SHARE)}
    assert all(a["model_version"] is None for a in answers), "users see the live answer"
    assert all(a["label"] not in spec_digits() for a in answers), "never the shadow's"
    truth = {answer["id"]: str(digit) for answer, digit in zip(answers, digits, strict=True)}

    # Reviewers see disagreements first, and label them.
    ctx.client.logout()
    staff_client(ctx.client, ctx.make_user, "rev@example.com", "review_predictions")
    page = ctx.client.get("/quality/review/").content.decode()
    disagreeing = [
        pk for pk, label in ShadowAnswer.objects.values_list("prediction", "label")
        if label != Prediction.objects.get(pk=pk).label
    ]  # fmt: skip
    assert disagreeing, "the ImageNet model and the digits model never say the same label"
    first = page.index('data-prediction="')
    assert page[first + 17 : first + 53] in {str(pk) for pk in disagreeing}
    for pk in shadowed:
        reviewed = ctx.client.post(f"/quality/review/{pk}/", {"label": truth[pk]})
        assert reviewed.status_code == 302

    # The dashboard, against counts made here from the rows.
    staff_client(ctx.client, ctx.make_user, "quality@example.com", "view_dashboard")
    data = trials_api(ctx.client)
    (row,) = data["shadow"]
    everything = {  # the probes' too
        str(pk): label for pk, label in ShadowAnswer.objects.values_list("prediction", "label")
    }
    live_labels = {
        str(pk): label
        for pk, label in Prediction.objects.filter(pk__in=everything).values_list("pk", "label")
    }
    agree = sum(label == live_labels[pk] for pk, label in everything.items())
    assert row["candidate_id"] == version.pk and row["live_id"] is None
    assert row["images"] == len(everything)
    assert_proportion(row["agreement"], agree, len(everything))
    assert_proportion(
        row["candidate_accuracy"],
        sum(shadowed[pk] == truth[pk] for pk in shadowed),
        len(shadowed),
    )
    live_right = sum(live_labels[pk] == truth[pk] for pk in shadowed)
    assert_proportion(row["live_accuracy"], live_right, len(shadowed))
    assert "is more accurate than" in row["sentence"], row
    ctx.client.logout()
    return row


def spec_digits() -> set[str]:
    return {str(digit) for digit in range(10)}


def run_canary(ctx, version, photos, digits, stack, probes) -> dict:
    """Canary on CANARY_SHARE % of users: each user uploads digits and says right or wrong;
    the dashboard's per-version accuracy and verdict checked against the users' verdicts."""
    services.start_trial(version=version, trial=spec.CANARY, share=CANARY_SHARE)
    started = time.monotonic()
    numbers = count(1)
    inside: list = []
    outside: list = []
    while len(inside) < 3 or len(outside) < 3:  # sticky by user id: pick three of each
        person = ctx.make_user(email=f"user{next(numbers)}@example.com")
        group = inside if spec.in_share(spec.CANARY, person.pk, CANARY_SHARE) else outside
        if len(group) < 3:
            group.append(person)
    headers = {person.pk: live_auth_headers(stack, person) for person in inside + outside}

    # Every web process and the worker re-read the candidate within MODEL_LIVE_CHECK_SECONDS
    # (1 s in the stack): wait for that bound and for an answer from the candidate.
    probe = iter(probes)
    first = headers[inside[0].pk]
    wait_until(
        lambda: (
            ctx.answers(ctx.upload_all([next(probe)], first), first)[0]["model_version"]
            == version.pk
            and time.monotonic() - started > 1.5
        ),
        timeout=300,
        interval=0,
        what="an upload of a canary user answered by the candidate",
    )
    per_user = len(photos) // 6
    for n, person in enumerate(inside + outside):
        own = slice(n * per_user, (n + 1) * per_user)
        answers = ctx.answers(ctx.upload_all(photos[own], headers[person.pk]), headers[person.pk])
        expected = version.pk if person in inside else None
        assert {a["model_version"] for a in answers} == {expected}, person
        for answer, digit in zip(answers, digits[own], strict=True):
            right = answer["label"] == str(digit)
            sent = requests.post(
                f"{stack.url}/api/feedback/",
                headers=headers[person.pk],
                json={"prediction": answer["id"], "is_correct": right}
                | ({} if right else {"correct_label": str(digit)}),
                timeout=10,
            )
            assert sent.status_code == 201, sent.text

    staff_client(ctx.client, ctx.make_user, "canary@example.com", "view_dashboard")
    data = trials_api(ctx.client)
    by_version = {row["version_id"]: row for row in data["versions"]}
    for version_id in (version.pk, None):  # recomputed from every verdict in the database
        verdicts = list(
            Feedback.objects.filter(
                prediction__model_version=version_id, is_correct__isnull=False
            ).values_list("is_correct", flat=True)
        )
        assert_proportion(by_version[version_id]["accuracy"], sum(verdicts), len(verdicts))
    canary = data["canary"]
    assert canary["kind"] == "canary" and canary["candidate"]["version_id"] == version.pk
    assert canary["baseline"]["version_id"] is None
    assert "is more accurate than" in canary["sentence"], canary
    ctx.client.logout()
    return data
