"""python manage.py list_models"""

from django.core.management.base import BaseCommand

from registry import selectors


class Command(BaseCommand):
    help = "Every model version with its state (the live one marked *)."

    def handle(self, *args, **options):
        for version in selectors.all_versions():
            mark = "*" if version.state == version.State.LIVE else " "
            labels = len(version.labels) or 1000
            line = (
                f"{mark} {version.display_name:<32} {version.state:<10} {version.format:<10} "
                f"{labels:>5} labels  {version.input_height}x{version.input_width}  "
                f"{version.preprocessing}"
            )
            if version.failure_reason:
                line += f"  — {version.failure_reason}"
            self.stdout.write(line)
