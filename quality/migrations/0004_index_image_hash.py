"""The dashboard index also carries the image hash, so the review queue's "which images did
someone call wrong or disagree about" joins read the index, not the wide prediction rows."""

from django.db import migrations

INDEX = "quality_prediction_done_by_time"
COLUMNS = {
    "0003": "id, model_name, label, score",
    "0004": "id, model_name, label, score, image_sha256",
}


def rebuild(columns: str):
    def run(apps, schema_editor):
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")
        schema_editor.execute(
            f"CREATE INDEX {INDEX} ON classifier_prediction (created_at) "
            f"INCLUDE ({columns}) WHERE status = 'done'"
        )

    return run


class Migration(migrations.Migration):
    dependencies = [("quality", "0003_dashboard_indexes")]

    operations = [migrations.RunPython(rebuild(COLUMNS["0004"]), rebuild(COLUMNS["0003"]))]
