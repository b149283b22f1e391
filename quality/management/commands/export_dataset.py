"""`python manage.py export_dataset`: the labelled predictions, for retraining."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from pathlib import Path

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone
from django.utils.dateparse import parse_date

from quality import exports


def _day(value: str):
    day = parse_date(value)
    if day is None:
        raise CommandError(f"Not a date (YYYY-MM-DD): {value!r}")
    return datetime.combine(day, time.min, tzinfo=timezone.get_current_timezone())


class Command(BaseCommand):
    help = (
        "Export answered predictions with feedback and reviewed labels: a CSV or JSONL "
        "manifest, or an ImageNet-folder zip (<label>/<sha256>.<ext>). No e-mails unless "
        "--include-emails."
    )

    def add_arguments(self, parser):
        parser.add_argument("--format", choices=["csv", "jsonl", "imagenet"], default="csv")
        parser.add_argument("--output", "-o", required=True, help="File to write ('-': stdout).")
        parser.add_argument("--model", default="", help="Only this model name.")
        parser.add_argument("--since", help="First day (YYYY-MM-DD), inclusive.")
        parser.add_argument("--until", help="Last day (YYYY-MM-DD), inclusive.")
        parser.add_argument("--only-corrected", action="store_true")
        parser.add_argument("--only-reviewed", action="store_true")
        parser.add_argument("--include-emails", action="store_true")

    def handle(self, *args, **options):
        filters = exports.ExportFilter(
            model_name=options["model"],
            since=_day(options["since"]) if options["since"] else None,
            until=_day(options["until"]) + timedelta(days=1) if options["until"] else None,
            only_corrected=options["only_corrected"],
            only_reviewed=options["only_reviewed"],
        )
        include_emails = options["include_emails"] and options["format"] != "imagenet"
        queryset = exports.export_queryset(filters, include_emails=include_emails)
        output = options["output"]
        if options["format"] == "imagenet":
            if output == "-":
                raise CommandError("The archive needs a file: --output dataset.zip")
            count = exports.write_imagenet_archive(queryset, output)
            self.stderr.write(f"{count} images written to {output} ({filters.describe()})")
            return
        rows = exports.manifest_rows(queryset)
        lines = (
            exports.csv_lines(rows, include_emails=include_emails)
            if options["format"] == "csv"
            else exports.jsonl_lines(rows)
        )
        if output == "-":
            for line in lines:
                self.stdout.write(line, ending="")
            return
        with Path(output).open("w", encoding="utf-8", newline="") as handle:
            handle.writelines(lines)
        self.stderr.write(f"Manifest written to {output} ({filters.describe()})")
