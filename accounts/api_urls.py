from django.urls import path

from accounts import api

app_name = "accounts-api"

urlpatterns = [
    path("register/", api.RegisterView.as_view(), name="register"),
    path("token/", api.TokenView.as_view(), name="token"),
    path("token/refresh/", api.RefreshView.as_view(), name="token-refresh"),
    path("me/", api.MeView.as_view(), name="me"),
]
