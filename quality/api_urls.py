from django.urls import path

from quality.api import DashboardAPIView

app_name = "quality-api"

urlpatterns = [path("quality/dashboard/", DashboardAPIView.as_view(), name="dashboard")]
