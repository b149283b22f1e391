"""Admin change lists whose date drill-down never fails on a date past the calendar's end.

Django's `date_hierarchy` turns `?created_at__year=9999` into the range [9999-01-01,
10000-01-01), and the year 10000 does not exist in Python: the list answered 500. A
drill-down beyond the calendar (or before its start, once the time zone is applied) can
hold nothing, so the list shows no rows instead.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.contrib.admin.views.main import ChangeList
from django.utils.timezone import make_aware


def drill_down_fits_the_calendar(year: str, month: str | None, day: str | None) -> bool:
    """Whether Django can compute the drill-down's range; unparsable values are Django's to
    reject (its own 'invalid lookup' answer), so they count as fitting here."""
    try:
        start = datetime(int(year), int(month or 1), int(day or 1))
    except ValueError:
        return True
    try:
        if day:
            end = start + timedelta(days=1)
        elif month:
            end = (start + timedelta(days=32)).replace(day=1)
        else:
            end = start.replace(year=start.year + 1)
        make_aware(start)
        make_aware(end)
    except (OverflowError, ValueError):
        return False
    return True


class CalendarSafeChangeList(ChangeList):
    beyond_the_calendar = False

    def get_filters(self, request):
        if not self.date_hierarchy:
            return super().get_filters(request)
        names = [f"{self.date_hierarchy}__{part}" for part in ("year", "month", "day")]
        year, month, day = (self.filter_params.get(name, [None])[-1] for name in names)
        if year is None or drill_down_fits_the_calendar(year, month, day):
            return super().get_filters(request)
        self.beyond_the_calendar = True
        every_param = self.filter_params
        self.filter_params = {
            name: values for name, values in every_param.items() if name not in names
        }
        try:
            return super().get_filters(request)
        finally:
            self.filter_params = every_param

    def get_queryset(self, request, exclude_parameters=None):
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.none() if self.beyond_the_calendar else queryset


class CalendarSafeAdmin:
    """Mix into a ModelAdmin with a `date_hierarchy`."""

    def get_changelist(self, request, **kwargs):
        return CalendarSafeChangeList
