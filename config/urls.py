from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from ops.views import HealthView

api_patterns = [
    path("auth/", include("accounts.api_urls")),
    path("", include("classifier.api_urls")),
    path("", include("feedback.api_urls")),
    path("", include("quality.api_urls")),
    path("health/", HealthView.as_view(), name="health"),
    path("schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its start-up script as a file: no inline script (CSP).
    path("docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
]

urlpatterns = [
    path("admin/rq/", include("django_rq.urls")),
    path("admin/", admin.site.urls),
    path("api/", include(api_patterns)),
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
