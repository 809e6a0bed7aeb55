"""A campaign's hours in local time (contract 8): which day's window holds a moment. Pure."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from hypothesis import given
from hypothesis import strategies as st

from patron.campaigns.rules import opening_day

FRIDAY = date(2026, 11, 27)


def at(day: date, hhmm: str) -> datetime:
    return datetime.combine(day, time.fromisoformat(hhmm))


def test_a_window_across_midnight_belongs_to_the_evening_it_opens_on() -> None:
    late, early = time(22), time(2)
    assert opening_day(late, early, at(FRIDAY, "22:30")) == FRIDAY
    assert opening_day(late, early, at(FRIDAY + timedelta(days=1), "01:59")) == FRIDAY
    assert opening_day(late, early, at(FRIDAY, "00:30")) == FRIDAY - timedelta(days=1)
    assert opening_day(late, early, at(FRIDAY, "02:00")) is None  # `to` is exclusive
    assert opening_day(late, early, at(FRIDAY, "12:00")) is None


def test_24_00_takes_the_day_s_last_moment() -> None:
    last = datetime.combine(FRIDAY, time.max)
    assert opening_day(time(0), time.max, last) == FRIDAY
    assert opening_day(time(23), time.max, last) == FRIDAY
    assert opening_day(time(10), time(14), at(FRIDAY, "14:00")) is None


moments = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
times = st.times()


@given(moments, times, times)
def test_a_moment_is_in_at_most_one_day_s_window_and_never_a_later_one(
    local: datetime, start: time, end: time
) -> None:
    day = opening_day(start, end, local)
    if start == end:
        return  # refused when saved
    if day is None:
        return
    assert day in (local.date(), local.date() - timedelta(days=1))
    now = local.time()
    if start < end:
        assert day == local.date() and start <= now and (now < end or end == time.max)
    else:
        assert (day == local.date() and now >= start) or (day < local.date() and now < end)
