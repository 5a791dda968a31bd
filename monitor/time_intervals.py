"""Expected quiet: Alertmanager ``time_intervals`` entries, parsed and evaluated exactly.

A freshness check (``freshness.py``) does not call a gap a stall while a quiet schedule holds, so a
nightly batch window is not an outage. The syntax and the semantics are Alertmanager's
(``timeinterval.go``), so a schedule can be copied between the two:

- within one entry every field that is set must match (a field left out matches everything);
  a list of entries matches when any entry does;
- ``times``: ``{start_time: "HH:MM", end_time: "HH:MM"}``, start inclusive, end exclusive,
  ``00:00`` to ``24:00``, start before end (an overnight window is two ranges);
- ``weekdays``: names (any case) or ``monday:friday``; Sunday is the first day of the week, so
  ``saturday:sunday`` is not a range (write ``[saturday, sunday]``);
- ``days_of_month``: 1 to 31 or -31 to -1 (-1 is the last day of the month) or ranges of them;
- ``months``: names or 1 to 12, or ranges; ``years``: numbers or ranges;
- ``location``: an IANA time zone the other fields are read in (default UTC).

The parsers raise ``ValueError`` with a message fit for a config error; ``spec.py`` reports them.
"""

from __future__ import annotations

import calendar
import difflib
import re
import zoneinfo
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import cache

WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
MONTHS = (
    "january",
    "february",
    "march",
    "april",
    "may",
    "june",
    "july",
    "august",
    "september",
    "october",
    "november",
    "december",
)
_CLOCK = re.compile(r"^(?:([01][0-9]|2[0-3]):([0-5][0-9])|24:00)$")


@dataclass(frozen=True)
class Span:
    """An inclusive range of day, weekday (Sunday = 0), month or year numbers."""

    begin: int
    end: int

    def holds(self, value: int) -> bool:
        return self.begin <= value <= self.end


@dataclass(frozen=True)
class TimeRange:
    """Minutes of the day, ``start`` inclusive, ``end`` exclusive."""

    start: int
    end: int


@dataclass(frozen=True)
class TimeInterval:
    """One Alertmanager ``time_intervals`` entry; ``None`` fields match everything."""

    times: tuple[TimeRange, ...] | None = None
    weekdays: tuple[Span, ...] | None = None
    days_of_month: tuple[Span, ...] | None = None
    months: tuple[Span, ...] | None = None
    years: tuple[Span, ...] | None = None
    location: str = "UTC"

    def contains(self, at: float) -> bool:
        """Whether the moment ``at`` (epoch seconds) is inside this interval."""
        t = datetime.fromtimestamp(at, _zone(self.location))
        if self.times is not None:
            minute = t.hour * 60 + t.minute
            if not any(r.start <= minute < r.end for r in self.times):
                return False
        if self.days_of_month is not None and not _day_matches(self.days_of_month, t):
            return False
        weekday = (t.weekday() + 1) % 7  # Python's Monday = 0 → Alertmanager's Sunday = 0
        if self.weekdays is not None and not any(s.holds(weekday) for s in self.weekdays):
            return False
        if self.months is not None and not any(s.holds(t.month) for s in self.months):
            return False
        return self.years is None or any(s.holds(t.year) for s in self.years)


def is_quiet(intervals: Iterable[TimeInterval], at: float) -> bool:
    """Whether any of ``intervals`` contains ``at``; an empty schedule is never quiet."""
    return any(i.contains(at) for i in intervals)


@cache
def _zone(name: str) -> tzinfo:
    return UTC if name == "UTC" else zoneinfo.ZoneInfo(name)


def _day_matches(spans: tuple[Span, ...], t: datetime) -> bool:
    """Alertmanager's rule: negative days count from the month's end; a range starting after the
    month's last day never matches, one ending after it is clamped to it."""
    days = calendar.monthrange(t.year, t.month)[1]
    for span in spans:
        begin = days + span.begin + 1 if span.begin < 0 else span.begin
        end = days + span.end + 1 if span.end < 0 else span.end
        if begin > days:
            continue
        if max(begin, 1) <= t.day <= min(end, days):
            return True
    return False


# --- parsing ---------------------------------------------------------------------------------


def parse_clock(text: str) -> int:
    """``"HH:MM"`` (``00:00`` to ``24:00``) → minutes of the day."""
    if not _CLOCK.match(text):
        raise ValueError(f"{text!r} is not a time of day; write HH:MM from 00:00 to 24:00")
    hours, minutes = text.split(":")
    return int(hours) * 60 + int(minutes)


def time_range(start: str, end: str) -> TimeRange:
    begin, stop = parse_clock(start), parse_clock(end)
    if begin >= stop:
        raise ValueError(
            f"start_time {start} is not before end_time {end}; "
            "split a range over midnight in two: {start_time: '22:00', end_time: '24:00'} and "
            "{start_time: '00:00', end_time: '06:00'}"
        )
    return TimeRange(begin, stop)


def _split(text: str) -> tuple[str, str]:
    first, sep, last = text.partition(":")
    return (first.strip(), last.strip()) if sep else (text.strip(), text.strip())


def _named(text: str, names: tuple[str, ...], base: int, what: str) -> int:
    lowered = text.lower()
    if lowered in names:
        return names.index(lowered) + base
    if what == "month" and lowered.isdigit() and 1 <= int(lowered) <= 12:
        return int(lowered)
    close = difflib.get_close_matches(lowered, names, n=1)
    shown = f"{names[0]} to {names[-1]}" + (" or 1 to 12" if what == "month" else "")
    fix = f"did you mean {close[0]!r}?" if close else f"use {shown}"
    raise ValueError(f"{text!r} is not a {what}; {fix}")


def _ordered(begin: int, end: int, text: str, what: str) -> Span:
    if begin > end:
        raise ValueError(f"{text!r} starts after it ends; write the earlier {what} first")
    return Span(begin, end)


def weekday_span(text: str) -> Span:
    """``monday`` or ``monday:friday`` (any case); Sunday is 0."""
    first, last = _split(text)
    begin, end = (_named(x, WEEKDAYS, 0, "weekday") for x in (first, last))
    if begin > end:
        raise ValueError(
            f"{text!r} starts after it ends: the week starts on sunday; "
            f"list the days instead, e.g. [{first}, {last}]"
        )
    return Span(begin, end)


def month_span(text: str) -> Span:
    """``january``, ``1``, ``january:march`` or ``1:3``."""
    first, last = _split(str(text))
    begin, end = (_named(x, MONTHS, 1, "month") for x in (first, last))
    return _ordered(begin, end, str(text), "month")


def _integer(text: str, what: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{text!r} is not a {what}") from None


def day_of_month_span(text: str) -> Span:
    """``1``, ``-1`` (the last day), ``1:5`` or ``-3:-1``; checked like Alertmanager does, which
    counts a negative day from a 30-day month to catch reversed ranges."""
    first, last = _split(str(text))
    begin, end = (_integer(x, "day of the month") for x in (first, last))
    for day in (begin, end):
        if day == 0 or not -31 <= day <= 31:
            raise ValueError(f"{day} is not a day of the month; use 1 to 31, or -31 to -1")
    if (30 + begin if begin < 0 else begin) > (30 + end if end < 0 else end):
        raise ValueError(f"{text!r} starts after it ends; write the earlier day first")
    return Span(begin, end)


def year_span(text: str) -> Span:
    """``2024`` or ``2024:2026``."""
    first, last = _split(str(text))
    begin, end = (_integer(x, "year") for x in (first, last))
    if begin < 1 or end > 9999:
        raise ValueError(f"{text!r} is not a year or range of years")
    return _ordered(begin, end, str(text), "year")


def check_location(name: str) -> str:
    """An IANA time zone name (``Local`` is refused: a schedule must not depend on the host)."""
    if name == "Local":
        raise ValueError("location 'Local' depends on the host; use an IANA name such as UTC")
    try:
        _zone(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueError(
            f"unknown time zone {name!r}; use an IANA name such as Europe/Berlin"
        ) from None
    return name


__all__ = [
    "Span",
    "TimeInterval",
    "TimeRange",
    "check_location",
    "day_of_month_span",
    "is_quiet",
    "month_span",
    "parse_clock",
    "time_range",
    "weekday_span",
    "year_span",
]
