from django.urls import path

from classifier import views

app_name = "classifier"

urlpatterns = [
    path("", views.upload, name="upload"),
    path("predictions/", views.history, name="history"),
    path("predictions/<uuid:pk>/", views.detail, name="detail"),
    path("predictions/<uuid:pk>/image/", views.image, name="image"),
    path("predictions/<uuid:pk>/delete/", views.delete, name="delete"),
]
