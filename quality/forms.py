from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from quality.queue import REVIEW_REASONS
from quality.selectors import DEFAULT_DAYS, Period

MAX_DAYS = 3660
# Days a period may start or end on: wide enough for any data this product holds, narrow
# enough that the default 30-day window before `end` and the day after it stay real dates.
FIRST_DAY = date(1970, 1, 1)
LAST_DAY = date(2999, 12, 31)


def _within_the_calendar(day: date) -> None:
    if not FIRST_DAY <= day <= LAST_DAY:
        raise forms.ValidationError(
            _("Choose a date between %(first)s and %(last)s.")
            % {"first": FIRST_DAY.isoformat(), "last": LAST_DAY.isoformat()}
        )


class PeriodForm(forms.Form):
    """The dashboard's (and its API's) filters. Dates are whole days, `end` included."""

    start = forms.DateField(
        label=_("From"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[_within_the_calendar],
    )
    end = forms.DateField(
        label=_("To"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        validators=[_within_the_calendar],
    )
    model = forms.CharField(label=_("Model"), required=False, max_length=100)
    bucket = forms.ChoiceField(
        label=_("Per"),
        required=False,
        choices=[("day", _("day")), ("week", _("week"))],
    )

    def clean(self):
        data = super().clean()
        start, end = data.get("start"), data.get("end")
        if start and end and start > end:
            raise forms.ValidationError(_("The start date is after the end date."))
        if start and end and (end - start).days > MAX_DAYS:
            raise forms.ValidationError(_("Choose at most ten years."))
        return data

    def period(self) -> Period:
        """The chosen period; without dates, the last DEFAULT_DAYS days."""
        data = self.cleaned_data if self.is_valid() else {}
        today = timezone.localdate()
        end_day = data.get("end") or today
        start_day = data.get("start") or (end_day - timedelta(days=DEFAULT_DAYS - 1))
        zone = timezone.get_current_timezone()
        return Period(
            start=datetime.combine(start_day, time.min, tzinfo=zone),
            end=datetime.combine(end_day + timedelta(days=1), time.min, tzinfo=zone),
            model_name=data.get("model", ""),
            bucket=data.get("bucket") or "day",
        )


class QueueFilterForm(forms.Form):
    reason = forms.ChoiceField(
        required=False,
        choices=[("", _("all"))] + [(reason, reason) for reason in REVIEW_REASONS],
    )


class ReviewForm(forms.Form):
    label = forms.CharField(
        label=_("Label"),
        max_length=200,
        widget=forms.TextInput(
            attrs={"list": "imagenet-labels", "autocomplete": "off", "spellcheck": "false"}
        ),
    )
