"""The dashboard's figures as JSON (output only)."""

from rest_framework import serializers


class ProportionSerializer(serializers.Serializer):
    successes = serializers.IntegerField()
    total = serializers.IntegerField()
    rate = serializers.FloatField(allow_null=True)
    low = serializers.FloatField(allow_null=True, help_text="Wilson 95 % interval, lower end.")
    high = serializers.FloatField(allow_null=True, help_text="Wilson 95 % interval, upper end.")


class ModelQualitySerializer(serializers.Serializer):
    model_name = serializers.CharField()
    predictions = serializers.IntegerField()
    feedback = serializers.IntegerField(help_text="Predictions with a right/wrong verdict.")
    feedback_rate = serializers.FloatField(allow_null=True)
    accuracy = ProportionSerializer(help_text="Share of verdicts saying the top answer is right.")
    top5 = ProportionSerializer(help_text="Share of verdicts whose correct label is in the top 5.")
    other_labels = serializers.IntegerField(help_text="Corrections naming no ImageNet class.")
    reviewed_accuracy = ProportionSerializer()
    reviewed_top5 = ProportionSerializer()


class TimePointSerializer(serializers.Serializer):
    model_name = serializers.CharField()
    start = serializers.DateTimeField()
    accuracy = ProportionSerializer()


class LabelQualitySerializer(serializers.Serializer):
    label = serializers.CharField()
    predictions = serializers.IntegerField()
    accuracy = ProportionSerializer()


class ConfusionSerializer(serializers.Serializer):
    predicted = serializers.CharField()
    corrected = serializers.CharField()
    count = serializers.IntegerField()
    examples = serializers.ListField(
        child=serializers.UUIDField(),
        help_text="Prediction ids; images at /predictions/<id>/image/.",
    )


class CalibrationBucketSerializer(serializers.Serializer):
    low = serializers.FloatField()
    high = serializers.FloatField()
    mean_confidence = serializers.FloatField()
    accuracy = ProportionSerializer()


class OtherLabelSerializer(serializers.Serializer):
    other_label = serializers.CharField()
    count = serializers.IntegerField()


class PeriodSerializer(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField(help_text="Exclusive.")
    model_name = serializers.CharField(allow_blank=True)
    bucket = serializers.ChoiceField(choices=["day", "week"])


class DashboardSerializer(serializers.Serializer):
    period = PeriodSerializer()
    models = ModelQualitySerializer(many=True)
    timeline = TimePointSerializer(many=True)
    labels = LabelQualitySerializer(many=True)
    confusions = ConfusionSerializer(many=True)
    calibration = CalibrationBucketSerializer(many=True)
    other_labels = OtherLabelSerializer(many=True)


class DifferenceSerializer(serializers.Serializer):
    estimate = serializers.FloatField(help_text="Candidate's rate minus the other's.")
    low = serializers.FloatField(help_text="Newcombe 95 % interval (from the Wilson intervals).")
    high = serializers.FloatField()
    verdict = serializers.ChoiceField(
        choices=["better", "worse", "undecided"],
        help_text="better: the interval lies above 0; worse: below; else undecided.",
    )


class ShadowComparisonSerializer(serializers.Serializer):
    candidate_id = serializers.IntegerField()
    candidate = serializers.CharField()
    live_id = serializers.IntegerField(allow_null=True)
    live = serializers.CharField()
    images = serializers.IntegerField(help_text="Uploads answered by both.")
    agreement = ProportionSerializer(help_text="Same top label.")
    candidate_accuracy = ProportionSerializer(help_text="Against reviewed labels.")
    live_accuracy = ProportionSerializer(help_text="Against reviewed labels, same images.")
    difference = DifferenceSerializer(allow_null=True)
    sentence = serializers.CharField()


class VersionAccuracySerializer(serializers.Serializer):
    version_id = serializers.IntegerField(allow_null=True)
    version = serializers.CharField()
    predictions = serializers.IntegerField()
    accuracy = ProportionSerializer(help_text="Users' verdicts, Wilson 95 % interval.")


class CanaryComparisonSerializer(serializers.Serializer):
    candidate = VersionAccuracySerializer()
    baseline = VersionAccuracySerializer()
    kind = serializers.ChoiceField(choices=["canary", "promoted"])
    difference = DifferenceSerializer(allow_null=True)
    sentence = serializers.CharField()


class TrialsSerializer(serializers.Serializer):
    period = PeriodSerializer()
    candidate = serializers.CharField(help_text="The trial running now, empty if none.")
    shadow = ShadowComparisonSerializer(many=True)
    versions = VersionAccuracySerializer(many=True)
    canary = CanaryComparisonSerializer(allow_null=True)
