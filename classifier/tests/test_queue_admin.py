"""The queue dashboard: looking needs `classifier.view_queue`; emptying, requeueing,
deleting or stopping jobs needs `classifier.manage_queue` as well."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission

from classifier import queueing

pytestmark = pytest.mark.django_db

CHANGING = [
    ("post", "/admin/rq/queues/0/empty/", {}),
    ("get", "/admin/rq/queues/0/empty/", {}),
    ("post", "/admin/rq/queues/0/requeue-all/", {}),
    ("post", "/admin/rq/queues/actions/0/", {"action": "delete", "job_ids": ["{job}"]}),
    ("post", "/admin/rq/queues/0/{job}/delete/", {}),
]


@pytest.fixture
def waiting_job():
    queue = queueing.inference_queue()
    job = queue.enqueue("builtins.len", "never run")
    yield job
    queue.empty()


def operator(make_user, *codenames):
    person = make_user(email="operator@example.com", is_staff=True)
    person.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return person


@pytest.mark.parametrize(("method", "path", "body"), CHANGING, ids=[c[1] for c in CHANGING])
def test_viewing_the_queue_does_not_let_staff_change_it(
    client, make_user, waiting_job, method, path, body
):
    client.force_login(operator(make_user, "view_queue"))
    assert client.get("/admin/rq/queues/0/").status_code == 200
    filled = {
        k: [v.format(job=waiting_job.id) for v in vs] if isinstance(vs, list) else vs
        for k, vs in body.items()
    }
    response = getattr(client, method)(path.format(job=waiting_job.id), filled)
    assert response.status_code == 403
    assert queueing.inference_queue().job_ids == [waiting_job.id]


def test_the_manage_permission_empties_the_queue(client, make_user, waiting_job):
    client.force_login(operator(make_user, "view_queue", "manage_queue"))
    assert client.get("/admin/rq/queues/0/empty/").status_code == 200
    response = client.post("/admin/rq/queues/0/empty/")
    assert response.status_code == 302
    assert queueing.inference_queue().job_ids == []


def test_the_manage_permission_alone_does_not_open_the_dashboard(client, make_user):
    client.force_login(operator(make_user, "manage_queue"))
    assert client.get("/admin/rq/queues/0/empty/").status_code == 403
