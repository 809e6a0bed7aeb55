"""How the admin app shows numbers, money and times: in the program's currency and time zone. Pure."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, format_decimal

from patron import clock
from patron.program.settings import Program

LOCALE = "en_US"


@dataclass(frozen=True, slots=True)
class Formatter:
    program: Program

    @property
    def zone(self) -> ZoneInfo:
        return clock.zone(self.program.timezone)

    def money(self, value: Any) -> str:
        if value is None or value == "":
            return "—"
        return str(format_currency(Decimal(str(value)), self.program.currency, locale=LOCALE))

    def points(self, value: Any) -> str:
        if value is None:
            return "—"
        return str(format_decimal(int(value), locale=LOCALE))

    def number(self, value: Any) -> str:
        if value is None:
            return "—"
        return str(format_decimal(value, locale=LOCALE))

    def dt(self, value: Any) -> str:
        """A moment in the program's time zone, to the minute."""
        if value is None:
            return "—"
        if isinstance(value, str):
            value = datetime.fromisoformat(value)
        if isinstance(value, datetime):
            return value.astimezone(self.zone).strftime("%Y-%m-%d %H:%M")
        return str(value)

    def day(self, value: Any) -> str:
        if value is None:
            return "—"
        if isinstance(value, datetime):
            return value.astimezone(self.zone).date().isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return str(value)
