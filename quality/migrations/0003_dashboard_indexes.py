"""The index the quality dashboard's queries need, on the predictions table.

A partial covering index over answered predictions by time: the per-model, per-label,
per-day and calibration aggregates read it with index-only scans instead of the wide
prediction rows (each carries its top-5 JSON). It lives here, next to the queries that need
it; the classifier app's own state does not know it, so its migrations never drop it.
"""

from django.db import migrations

INDEX = "quality_prediction_done_by_time"


def create(apps, schema_editor):
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {INDEX} ON classifier_prediction (created_at) "
        "INCLUDE (id, model_name, label, score) WHERE status = 'done'"
    )


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("quality", "0002_reviewed_rank"), ("classifier", "0001_initial")]

    operations = [migrations.RunPython(create, drop)]
