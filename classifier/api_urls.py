from rest_framework.routers import SimpleRouter

from classifier.api import PredictionViewSet

app_name = "classifier-api"

router = SimpleRouter(use_regex_path=False)
router.register("predictions", PredictionViewSet, basename="prediction")
urlpatterns = router.urls
