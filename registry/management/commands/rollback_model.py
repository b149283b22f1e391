"""python manage.py rollback_model"""

from django.core.management.base import BaseCommand, CommandError

from registry import services


class Command(BaseCommand):
    help = "Make the version that was live before the current one live again."

    def handle(self, *args, **options):
        try:
            version = services.rollback()
        except services.PromotionRefused as error:
            raise CommandError(str(error)) from None
        self.stdout.write(f"Rolled back: {version} is live.")
