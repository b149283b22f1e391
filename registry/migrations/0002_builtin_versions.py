"""The two built-in models appear as versions (ready, not live: with nothing live, workers
serve their configured CLASSIFIER_MODEL, as before the registry existed)."""

from django.db import migrations

BUILTINS = {"resnet50": (224, 224, "caffe"), "efficientnet_lite0": (224, 224, "tf")}


def add_builtins(apps, schema_editor):
    ModelVersion = apps.get_model("registry", "ModelVersion")
    for key, (height, width, preprocessing) in BUILTINS.items():
        ModelVersion.objects.get_or_create(
            name=key,
            version=1,
            defaults={
                "format": "builtin",
                "builtin_key": key,
                "input_height": height,
                "input_width": width,
                "preprocessing": preprocessing,
                "state": "ready",
            },
        )


class Migration(migrations.Migration):
    dependencies = [("registry", "0001_initial")]
    operations = [migrations.RunPython(add_builtins, migrations.RunPython.noop)]
