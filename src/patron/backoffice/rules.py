"""Pure back-office rules: quiet hours, retry schedules, birthdays, send slots, signatures,
broadcast filters' moments.

No I/O here: the worker and the tests call these with the time they choose."""

from __future__ import annotations

import hashlib
import hmac
import math
import random
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from patron.clock import local_midnight, zone

QUIET_FROM = time(21, 0)
QUIET_UNTIL = time(9, 0)

EXPIRY_NOTICE_DAYS = 7
WEBHOOK_RETRY_HOURS = 24


# --- quiet hours -----------------------------------------------------------------------------


def quiet_until(now: datetime, tz: ZoneInfo) -> datetime | None:
    """None when a message may go out at ``now`` in ``tz``; else the next 09:00 local time.

    Messages never go out between 21:00 and 09:00 in the member's local time (contract 9)."""
    local = now.astimezone(tz)
    if QUIET_UNTIL <= local.time().replace(tzinfo=None) < QUIET_FROM:
        return None
    day = (
        local.date() if local.time().replace(tzinfo=None) < QUIET_UNTIL else local.date() + timedelta(days=1)
    )
    return datetime.combine(day, QUIET_UNTIL, tzinfo=tz)


# --- broadcast filters -------------------------------------------------------------------------


def filter_moment(text: str | None, timezone: str) -> datetime | None:
    """A broadcast filter's date (local midnight in the program's time zone) or timestamp."""
    if text is None:
        return None
    if len(text) == 10:
        return local_midnight(date.fromisoformat(text), zone(timezone))
    return datetime.fromisoformat(text)


def empty_window(after: str | None, before: str | None, timezone: str) -> bool:
    """Whether "the latest receipt at or after ``after`` and before ``before``" selects no one: a
    date and a timestamp too, compared once the date is a moment in the program's zone."""
    start, end = filter_moment(after, timezone), filter_moment(before, timezone)
    return start is not None and end is not None and start >= end


# --- retries ---------------------------------------------------------------------------------


def message_backoff(
    attempts: int, base: float, cap: float = 600.0, rng: random.Random | None = None
) -> float:
    """Seconds before the next try of a message that failed ``attempts`` times (>= 1): doubling
    from ``base`` up to ``cap``, with up to 20% jitter so that retries of a burst spread out."""
    delay = min(cap, base * 2 ** max(0, attempts - 1))
    jitter = (rng or random).uniform(0, 0.2 * delay)
    return delay + jitter


# The longest wait a provider's Retry-After is taken for: "1e12" or "inf" overflowed the next
# attempt's time, and the sender's loop failed on it with the batch unrecorded, again and again.
LONGEST_RETRY_AFTER = 86_400.0


def retry_after_seconds(header: str | None, now: datetime) -> float | None:
    """The ``Retry-After`` header (seconds, or an HTTP date) as seconds from ``now``, at most a day."""
    if not header:
        return None
    text = header.strip()
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        # a negative number is no delay the header can give (RFC 9110): as if none were given
        return None if math.isnan(seconds) or seconds < 0 else min(LONGEST_RETRY_AFTER, seconds)
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return min(LONGEST_RETRY_AFTER, max(0.0, (when - now).total_seconds()))


# Growing delays between webhook attempts; the last one repeats until 24 hours have passed.
WEBHOOK_DELAYS = (10, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 10800)


def webhook_next_attempt(attempts: int, due_since: datetime, now: datetime) -> datetime | None:
    """When to try a webhook delivery again after its ``attempts``-th failure; None to give up.

    Delays grow to 3 hours; attempts go on until at least 24 hours after the delivery became due
    (the event, unless it waited behind an earlier delivery of its member)."""
    if now - due_since >= timedelta(hours=WEBHOOK_RETRY_HOURS):
        return None
    delay = WEBHOOK_DELAYS[min(attempts, len(WEBHOOK_DELAYS)) - 1]
    return now + timedelta(seconds=delay)


def sign(secret: str, body: bytes) -> str:
    """The ``X-Patron-Signature`` header value (contract 10)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


# --- birthdays -------------------------------------------------------------------------------


def birthday_in(year: int, birthday: date) -> date:
    """The member's birthday in ``year`` (29 February counts as 28 February in other years)."""
    try:
        return birthday.replace(year=year)
    except ValueError:
        return date(year, 2, 28)


@dataclass(frozen=True, slots=True)
class BirthdayGift:
    year: int  # the year of the birthday the gift is for: a gift is given once per such year
    gift_day: date
    available_from: datetime
    expires_at: datetime


def birthday_gift_due(
    birthday: date, days_before: int, valid_days: int, now: datetime, tz: ZoneInfo
) -> BirthdayGift | None:
    """The gift due at ``now``, if any: from local midnight ``days_before`` days before the
    birthday until the end of the birthday (a worker that was down catches up until then). With
    ``days_before`` near a year, two years' windows meet: the latest gift not yet expired is the
    one due (the earlier year's, long expired, was taken, and the next came two days late)."""
    today = now.astimezone(tz).date()
    open_now = []
    for year in (today.year - 1, today.year, today.year + 1):
        day = birthday_in(year, birthday)
        gift_day = day - timedelta(days=days_before)
        start = local_midnight(gift_day, tz)
        end = local_midnight(day + timedelta(days=1), tz)
        if start <= now < end:
            expires = local_midnight(gift_day + timedelta(days=valid_days), tz)
            open_now.append(BirthdayGift(year, gift_day, start, expires))
    unexpired = [gift for gift in open_now if now < gift.expires_at]
    return unexpired[-1] if unexpired else (open_now[0] if open_now else None)


def birthday_candidates(today: date, days_before: int) -> list[tuple[int, int]]:
    """(month * 100 + day, year of that birthday) of the birthdays that may have a gift due on the
    UTC date ``today`` in some time zone: a cheap filter before the exact check of
    ``birthday_gift_due``. Local dates are at most a day from the UTC date (UTC-12 to UTC+14), so
    the birthdays from yesterday to ``days_before`` + 1 days ahead."""
    found: set[tuple[int, int]] = set()
    for offset in range(-1, days_before + 2):
        day = today + timedelta(days=offset)
        found.add((day.month * 100 + day.day, day.year))
        if (day.month, day.day) == (2, 28) and not _leap(day.year):
            found.add((229, day.year))
    return sorted(found)


def _leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


# --- send slots ------------------------------------------------------------------------------


# The most of a channel's rate that slots may be paced at: the rest absorbs a send's lateness (up to
# 21 ms), so that no one-second window holds one more than the rate (a property test).
MOST_HEADROOM = 0.95


def paced_rate(rate_per_second: float, headroom: float) -> float:
    """Sends a second that a channel's slots are laid out at.

    A provider's limit counts whole messages in any one second, so a fractional limit above one
    allows only its whole part in a second: at 1.5 a second, slots 1 / 1.35 s apart would put two
    sends in some second. Such a limit is paced as its whole part. Below one a second, the limit
    is one message per ``1 / rate`` seconds and is paced as it is."""
    whole = math.floor(rate_per_second) if rate_per_second >= 1 else rate_per_second
    return whole * headroom


def batch_size(rate_per_second: float | None, headroom: float, horizon: float, most: int) -> int:
    """How many messages one worker takes at once: what the rate allows in ``horizon`` seconds."""
    if rate_per_second is None:
        return most
    return max(1, min(most, int(paced_rate(rate_per_second, headroom) * horizon)))


def slot_spacing(rate_per_second: float, headroom: float) -> float:
    """Seconds between two sends of a channel, all processes together."""
    return 1.0 / paced_rate(rate_per_second, headroom)


def group_size(rate_per_second: float, headroom: float, tick: float) -> int:
    """How many consecutive slots a worker sends at once, at the first one's time.

    Waking up for every slot costs a worker more than the send itself at high rates (1,000 a
    second: a timer a millisecond). Sending the slots of ``tick`` seconds together wakes it once
    per tick instead. The pace over any second stays the same but for one group, so a group is
    kept under half the headroom's spare rate: any one-second window then holds at most
    ``rate × headroom + group`` sends, below ``rate``."""
    limit = paced_rate(rate_per_second, 1.0)  # what a second may hold
    spare = int(limit * (1.0 - headroom) / 2)
    return max(1, min(int(limit * headroom * tick), spare))
