"""The older FastAPI system's HTTP contract (/login, /user/, /model/predict, /feedback/).

Kept so its existing clients work unchanged; every view here calls the same services
as the /api/ endpoints. See docs/MIGRATION.md.

Each path matches with and without its trailing slash, so APPEND_SLASH never has to
redirect (a redirected POST loses its body; in DEBUG Django raises instead).
"""

from django.urls import re_path

from accounts.legacy import LegacyLoginView, LegacyUsersView, LegacyUserView
from classifier.legacy import LegacyPredictView
from feedback.legacy import LegacyFeedbackView

app_name = "legacy"

urlpatterns = [
    re_path(r"^login/?$", LegacyLoginView.as_view(), name="login"),
    re_path(r"^user/?$", LegacyUsersView.as_view(), name="users"),
    re_path(r"^user/(?P<pk>[0-9]+)/?$", LegacyUserView.as_view(), name="user"),
    re_path(r"^model/predict/?$", LegacyPredictView.as_view(), name="predict"),
    re_path(r"^feedback/?$", LegacyFeedbackView.as_view(), name="feedback"),
]
