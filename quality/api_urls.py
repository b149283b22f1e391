from django.urls import path

from quality.api import DashboardAPIView, TrialsAPIView

app_name = "quality-api"

urlpatterns = [
    path("quality/dashboard/", DashboardAPIView.as_view(), name="dashboard"),
    path("quality/trials/", TrialsAPIView.as_view(), name="trials"),
]
