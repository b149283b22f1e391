"""Corrected labels become canonical ImageNet names; free text moves to `other_label`."""

from django.db import migrations, models


def split_labels(apps, schema_editor):
    from feedback.labels import canonicalise_label

    Feedback = apps.get_model("feedback", "Feedback")
    changed = []
    for feedback in Feedback.objects.exclude(correct_label="").iterator(chunk_size=2000):
        named = canonicalise_label(feedback.correct_label)
        if (named.label, named.other) != (feedback.correct_label, ""):
            feedback.correct_label, feedback.other_label = named.label, named.other
            changed.append(feedback)
        if len(changed) >= 2000:
            Feedback.objects.bulk_update(changed, ["correct_label", "other_label"])
            changed = []
    Feedback.objects.bulk_update(changed, ["correct_label", "other_label"])


def join_labels(apps, schema_editor):
    Feedback = apps.get_model("feedback", "Feedback")
    Feedback.objects.exclude(other_label="").update(correct_label=models.F("other_label"))


class Migration(migrations.Migration):
    dependencies = [("feedback", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="feedback",
            name="other_label",
            field=models.CharField(blank=True, max_length=200),
        ),
        migrations.RunPython(split_labels, join_labels),
    ]
