from django.contrib import admin
from django.urls import URLPattern, include, path
from django_rq.urls import get_admin_urlpatterns, get_api_urlpatterns
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts.permissions import staff_permission_required
from accounts.views import LoginView
from config.queue_pages import with_queue_page_policy
from config.views import favicon
from ops.views import HealthView, LivenessView, ReadinessView

api_patterns = [
    path("auth/", include("accounts.api_urls")),
    path("", include("classifier.api_urls")),
    path("", include("feedback.api_urls")),
    path("", include("quality.api_urls")),
    path("", include("registry.api_urls")),
    path("health/", HealthView.as_view(), name="health"),
    path("health/ready/", ReadinessView.as_view(), name="health-ready"),
    path("health/live/", LivenessView.as_view(), name="health-live"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

# django-rq's dashboard admits any staff user; ours also needs this permission to look, and
# a second one for the views that empty, requeue, delete, enqueue or stop jobs (their
# confirmation pages too): those lose or repeat users' work. Its pages get their own
# policy for django-rq's inline blocks (config.queue_pages says why).
queue_guard = staff_permission_required("classifier.view_queue")
queue_manager_guard = staff_permission_required("classifier.manage_queue")
QUEUE_CHANGING_VIEWS = {
    "clear",
    "requeue_all",
    "delete_failed_jobs",
    "delete_job",
    "requeue_job",
    "enqueue_job",
    "stop_job",
    "confirm_action",
    "actions",
}


def _guarded(pattern: URLPattern) -> URLPattern:
    view = pattern.callback
    if pattern.name in QUEUE_CHANGING_VIEWS:
        view = queue_manager_guard(view)
    view = with_queue_page_policy(queue_guard(view))
    return URLPattern(pattern.pattern, view, pattern.default_args, pattern.name)


queue_patterns = [
    # stats.json (and metrics): django-rq's own staff-or-API-token check, behind the guard
    *(_guarded(pattern) for pattern in get_api_urlpatterns()),
    *(_guarded(pattern) for pattern in get_admin_urlpatterns()),
]
assert {pattern.name for pattern in queue_patterns} >= QUEUE_CHANGING_VIEWS, (
    "a django-rq view that changes the queue was renamed: guard it again"
)

urlpatterns = [
    path("favicon.ico", favicon, name="favicon"),
    path("admin/rq/", include((queue_patterns, "django_rq"))),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
    # The browsable API's login: our form and backend (failed-login limits), DRF's template.
    path(
        "api-auth/login/",
        LoginView.as_view(template_name="rest_framework/login.html"),
        name="api-auth-login",
    ),
    path("api-auth/", include("rest_framework.urls")),
    # set_language: the language switch in every page posts here.
    path("i18n/", include("django.conf.urls.i18n")),
    path("accounts/", include("accounts.urls")),
    path("", include("monitoring.urls")),
    path("", include("config.legacy_urls")),
    path("", include("feedback.urls")),
    path("", include("quality.urls")),
    path("", include("classifier.urls")),
]
