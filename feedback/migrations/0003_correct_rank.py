"""Each verdict records where the true label sits in the prediction's top 5 (top-5 hit rate)."""

from django.db import migrations, models


def fill_ranks(apps, schema_editor):
    from feedback.labels import rank_in_top

    Feedback = apps.get_model("feedback", "Feedback")
    changed = []
    verdicts = Feedback.objects.filter(prediction__isnull=False, is_correct__isnull=False)
    for feedback in verdicts.select_related("prediction").iterator(chunk_size=2000):
        if feedback.is_correct:
            feedback.correct_rank = 1
        else:
            feedback.correct_rank = rank_in_top(feedback.correct_label, feedback.prediction.top5)
        changed.append(feedback)
        if len(changed) >= 2000:
            Feedback.objects.bulk_update(changed, ["correct_rank"])
            changed = []
    Feedback.objects.bulk_update(changed, ["correct_rank"])


class Migration(migrations.Migration):
    dependencies = [("feedback", "0002_other_label"), ("classifier", "0001_initial")]

    operations = [
        migrations.AddField(
            model_name="feedback",
            name="correct_rank",
            field=models.PositiveSmallIntegerField(blank=True, null=True),
        ),
        migrations.RunPython(fill_ranks, migrations.RunPython.noop),
    ]
