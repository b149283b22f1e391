"""python manage.py trial_model NAME VERSION --shadow PERCENT | --canary PERCENT;
python manage.py trial_model --end"""

from django.core.management.base import BaseCommand, CommandError

from registry import services, spec
from registry.models import ModelVersion


class Command(BaseCommand):
    help = (
        "Put a ready version on trial beside the live one: --shadow P runs it on P %% of "
        "uploads (answers kept apart, never shown), --canary P answers P %% of users with it. "
        "--end stops the trial. Promoting or rolling back ends it too."
    )

    def add_arguments(self, parser):
        parser.add_argument("name", nargs="?")
        parser.add_argument("version", nargs="?", type=int)
        mode = parser.add_mutually_exclusive_group(required=True)
        mode.add_argument("--shadow", type=int, metavar="PERCENT")
        mode.add_argument("--canary", type=int, metavar="PERCENT")
        mode.add_argument("--end", action="store_true")

    def handle(self, *args, **options):
        if options["end"]:
            ended = services.end_trial()
            self.stdout.write(f"Trial of {ended} ended." if ended else "No trial was running.")
            return
        if options["name"] is None or options["version"] is None:
            raise CommandError("Name the version: trial_model NAME VERSION --shadow PERCENT.")
        try:
            version = ModelVersion.objects.get(name=options["name"], version=options["version"])
        except ModelVersion.DoesNotExist:
            raise CommandError(f"No version {options['name']} v{options['version']}.") from None
        trial = spec.SHADOW if options["shadow"] is not None else spec.CANARY
        share = options["shadow"] if trial == spec.SHADOW else options["canary"]
        try:
            services.start_trial(version=version, trial=trial, share=share)
        except services.TrialRefused as error:
            raise CommandError(str(error)) from None
        whom = "uploads" if trial == spec.SHADOW else "users"
        self.stdout.write(f"{version} is the {trial} candidate on {share} % of {whom}.")
