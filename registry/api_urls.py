from django.urls import path

from registry.api import ModelVersionList

app_name = "registry-api"

urlpatterns = [path("models/", ModelVersionList.as_view(), name="model-list")]
