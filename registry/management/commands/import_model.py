"""python manage.py import_model PATH --labels FILE --name NAME [--preprocessing …]"""

from pathlib import Path

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from registry import services, spec


class Command(BaseCommand):
    help = "Register a model file (local path only) as a new version; a worker validates it."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help=".keras, .h5, zipped SavedModel or .onnx")
        parser.add_argument("--labels", type=Path, required=True, help="one label per line")
        parser.add_argument("--name", required=True)
        parser.add_argument("--preprocessing", default="unit", choices=sorted(spec.PRESETS))
        parser.add_argument(
            "--input-size", type=int, nargs=2, default=[224, 224], metavar=("HEIGHT", "WIDTH")
        )
        parser.add_argument("--mean", type=float, nargs=3, default=None)
        parser.add_argument("--std", type=float, nargs=3, default=None)
        parser.add_argument("--user", default=None, help="e-mail recorded as who registered it")

    def handle(self, *args, **options):
        actor = None
        if options["user"]:
            actor = get_user_model().objects.filter(email=options["user"]).first()
            if actor is None:
                raise CommandError(f"No user {options['user']!r}.")
        try:
            labels_text = options["labels"].read_text(encoding="utf-8-sig")
            with open(options["path"], "rb") as content:
                version = services.register_version(
                    name=options["name"],
                    content=content,
                    filename=options["path"].name,
                    labels_text=labels_text,
                    preprocessing=options["preprocessing"],
                    input_size=tuple(options["input_size"]),
                    mean=options["mean"],
                    std=options["std"],
                    actor=actor,
                )
        except OSError as error:
            raise CommandError(f"Cannot read {error.filename}: {error.strerror}") from None
        except spec.InvalidSpec as error:
            raise CommandError(str(error)) from None
        self.stdout.write(
            f"Registered {version} (id {version.pk}, sha256 {version.sha256[:12]}…, "
            f"{len(version.labels)} labels); a worker is validating it: see list_models."
        )
