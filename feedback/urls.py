from django.urls import path

from feedback import views

app_name = "feedback"

urlpatterns = [
    path("predictions/<uuid:prediction_id>/feedback/", views.give, name="give"),
]
