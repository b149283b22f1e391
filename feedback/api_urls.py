from rest_framework.routers import SimpleRouter

from feedback.api import FeedbackViewSet

app_name = "feedback-api"

router = SimpleRouter(use_regex_path=False)
router.register("feedback", FeedbackViewSet, basename="feedback")
urlpatterns = router.urls
