from rest_framework import serializers

from registry.models import ModelVersion


class ModelVersionSerializer(serializers.ModelSerializer):
    live = serializers.SerializerMethodField()
    label_count = serializers.SerializerMethodField()
    input_size = serializers.SerializerMethodField()

    class Meta:
        model = ModelVersion
        fields = [
            "id",
            "name",
            "version",
            "format",
            "state",
            "live",
            "failure_reason",
            "label_count",
            "labels",
            "input_size",
            "preprocessing",
            "sha256",
            "size_bytes",
            "created_at",
            "validated_at",
            "promoted_at",
        ]
        read_only_fields = fields

    def get_live(self, version) -> bool:
        return version.state == ModelVersion.State.LIVE

    def get_label_count(self, version) -> int:
        return len(version.labels) if version.labels else 1000  # built-ins: ImageNet-1k

    def get_input_size(self, version) -> list[int]:
        return [version.input_height, version.input_width]
