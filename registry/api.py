from drf_spectacular.utils import extend_schema
from rest_framework import generics

from registry import selectors
from registry.serializers import ModelVersionSerializer


@extend_schema(
    description="Every model version: its state (validating, ready, failed with the reason, "
    "live, retired), labels and input size. Exactly one is live at most; with none live the "
    "workers serve their configured built-in model."
)
class ModelVersionList(generics.ListAPIView):
    serializer_class = ModelVersionSerializer
    pagination_class = None

    def get_queryset(self):
        return selectors.all_versions()
