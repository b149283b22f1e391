"""python manage.py promote_model NAME VERSION"""

from django.core.management.base import BaseCommand, CommandError

from registry import services
from registry.models import ModelVersion


class Command(BaseCommand):
    help = "Make one validated version live (the one live before is retired)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("version", type=int)

    def handle(self, *args, **options):
        try:
            version = ModelVersion.objects.get(name=options["name"], version=options["version"])
        except ModelVersion.DoesNotExist:
            raise CommandError(f"No version {options['name']} v{options['version']}.") from None
        try:
            services.promote_version(version=version)
        except services.PromotionRefused as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"{version} is live.")
