from django.urls import path

from quality import views

app_name = "quality"

urlpatterns = [
    path("quality/", views.dashboard, name="dashboard"),
    path("quality/review/", views.review_queue, name="review-queue"),
    path("quality/review/<uuid:pk>/", views.review, name="review"),
]
