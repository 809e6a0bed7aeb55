"""Message templates: Jinja2 in a sandbox, with Babel formatting for the template's locale.

Pure: no I/O. A template sees the variables of its trigger (``VARIABLES`` documents them; the
builders below make them, and the samples used to check a template at ``PUT`` come from the
same builders, so a template that passes the check finds every variable it names at send time).

Filters: ``money`` (amount in the program's currency, or in the one whose code it is given),
``number``, ``date`` and ``datetime``
(in the member's time zone), each formatted for the template's locale; an absent value (a
member without a birthday) prints as nothing, as it does without a filter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel import Locale, UnknownLocaleError, dates, languages, numbers
from jinja2 import StrictUndefined, Template, TemplateError, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import SandboxedEnvironment

from patron.backoffice import sandbox

TRIGGERS = ("receipt", "points_expiring", "birthday", "tier_changed", "welcome")
MAX_LENGTH = sandbox.MAX_VALUE  # characters of a rendered message

VARIABLES: dict[str, list[str]] = {
    "*": [
        "member.id, member.name, member.phone, member.email, member.city, member.birthday",
        "member.tier.code, member.tier.name (empty texts when the member has no tier)",
        "currency, locale, timezone",
    ],
    "receipt": [
        "receipt.id, receipt.number, receipt.store, receipt.at, receipt.amount, receipt.discount, "
        "receipt.paid, receipt.points_spent, receipt.points_earned",
        "points_earned, points_spent, balance (available after the receipt)",
    ],
    "points_expiring": [
        "points (all the points of this notice), expires_at (the soonest expiry)",
        "lots: a list of {points, expires_at}",
    ],
    "birthday": ["points, available_from, expires_at, valid_days"],
    "tier_changed": [
        "tier.code, tier.name, tier.earn_percent, previous_tier.code, previous_tier.name"
        " (code and name empty texts for no tier)"
    ],
    "welcome": [],
    "broadcast": [],
}


class TemplateProblem(ValueError):
    """A template that does not parse, or fails on the sample variables of its trigger."""


def _to_decimal(value: Any) -> Decimal:
    try:
        return Decimal(str(value))
    except (InvalidOperation, ValueError) as exc:
        raise TemplateError(f"not a number: {value!r}") from exc


def _to_moment(value: Any) -> date | datetime:
    if isinstance(value, (date, datetime)):
        return value
    text = str(value)
    try:
        return datetime.fromisoformat(text) if "T" in text or " " in text else date.fromisoformat(text)
    except ValueError as exc:
        raise TemplateError(f"not a date: {value!r}") from exc


def _locale(context: Context) -> str:
    return str(context.get("locale") or "en")


def _zone(context: Context) -> ZoneInfo:
    return ZoneInfo(str(context.get("timezone") or "UTC"))


def _currency(given: Any) -> str:
    """The ISO 4217 code ``money(...)`` was given, upper-cased. Babel prints any text as a currency
    ("5,00 nonsense") and takes "usd" for no currency: a typo would reach every member."""
    code = given.upper() if isinstance(given, str) else None
    if code is None or not numbers.is_currency(code):
        raise TemplateProblem(f"money({given!r}): not a currency code; give one such as 'USD' or 'EUR'")
    return code


@pass_context
def _money(context: Context, value: Any, currency: Any = None) -> str:
    code = _currency(currency if currency is not None else str(context.get("currency") or "EUR"))
    if value is None:  # a member's absent figure prints as nothing, as ``{{ value }}`` does
        return ""
    return str(numbers.format_currency(_to_decimal(value), code, locale=_locale(context)))


@pass_context
def _number(context: Context, value: Any) -> str:
    if value is None:
        return ""
    return str(numbers.format_decimal(_to_decimal(value), locale=_locale(context)))


@pass_context
def _date(context: Context, value: Any, format: str = "medium") -> str:
    if value is None:  # a member without a birthday: nothing, not a failed message
        return ""
    if _has_time(format):
        raise TemplateProblem(f"date({format!r}) has a time in its pattern: use datetime for that")
    moment = _to_moment(value)
    if isinstance(moment, datetime):
        moment = moment.astimezone(_zone(context)).date()
    return str(dates.format_date(moment, format=format, locale=_locale(context)))


_TIME_FIELDS = frozenset("HhKkmsSAaBbzZvVOXx")  # hours to zones: what a date has not


def _has_time(format: str) -> bool:
    """Whether a date pattern asks for the time or its zone (which printed "None" or "+0000")."""
    if format in ("short", "medium", "long", "full"):
        return False
    try:
        tokens = dates.tokenize_pattern(format)
    except ValueError:
        return False  # babel says what is wrong with it when it formats
    return any(kind == "field" and field[0] in _TIME_FIELDS for kind, field in tokens)


@pass_context
def _datetime(context: Context, value: Any, format: str = "medium") -> str:
    if value is None:
        return ""
    moment = _to_moment(value)
    if not isinstance(moment, datetime):
        moment = datetime.combine(moment, datetime.min.time(), tzinfo=_zone(context))
    return str(dates.format_datetime(moment, format=format, tzinfo=_zone(context), locale=_locale(context)))


def _finalize(value: Any) -> Any:
    return "" if value is None else value


def _environment() -> SandboxedEnvironment:
    env = sandbox.BoundedEnvironment(
        undefined=StrictUndefined, autoescape=False, finalize=_finalize, keep_trailing_newline=False
    )
    env.filters.update(money=_money, number=_number, date=_date, datetime=_datetime)
    sandbox.bound(env)
    return env


_ENV = _environment()


@lru_cache(maxsize=512)
def compile_template(source: str) -> Template:
    """The compiled template (cached by its text); TemplateProblem when it does not parse."""
    try:
        return _ENV.from_string(source)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        where = f" (line {line})" if line else ""
        raise TemplateProblem(f"{exc}{where}") from exc


def render(source: str, variables: Mapping[str, Any]) -> str:
    """The text of ``source`` with ``variables``, within the sandbox's bounds; TemplateProblem on any
    error (whatever a template does wrong is the template's problem, never the server's)."""
    template = compile_template(source)
    pieces: list[str] = []
    length = 0
    try:
        with sandbox.budget():
            for piece in template.generate(variables):
                length += len(piece)
                if length > MAX_LENGTH:
                    raise TemplateProblem(f"the text is longer than {MAX_LENGTH} characters")
                pieces.append(piece)
                sandbox.spend(0)
        problem = None
    except TemplateProblem:
        raise
    except ArithmeticError:  # decimal's Overflow and InvalidOperation, a float's OverflowError
        problem = "a number too large to compute or to format"
    except Exception as exc:  # a filter's own error, a recursion, a breach of the sandbox's bounds
        problem = f"{type(exc).__name__}: {exc}"
    if problem is not None:
        # raised here, with no cause: a cause's traceback would keep the render's frames, and the
        # values they built, alive until a full garbage collection (a refused template kept
        # hundreds of megabytes in the server, adding up request after request)
        pieces.clear()
        raise TemplateProblem(problem)
    return "".join(pieces).strip()


# --- locales ---------------------------------------------------------------------------------


def normalize_locale(text: str) -> str:
    """``ru-RU`` or ``ru_RU`` → ``ru_RU``; ValueError for a locale Babel does not know."""
    try:
        return str(Locale.parse(text.replace("-", "_")))
    except (UnknownLocaleError, ValueError, TypeError) as exc:
        raise ValueError(f"unknown locale {text!r}") from exc


def choose_locale(available: list[str], country: str | None) -> str:
    """Which of a trigger's templates a member gets, given the member's country (the country of
    the store of their latest receipt, else the program's): a locale of that country, else one in
    its official language, else English, else the first one."""
    if not available:
        raise ValueError("no locale to choose from")
    parsed = {name: Locale.parse(name) for name in available}
    if country:
        for name, locale in sorted(parsed.items()):
            if locale.territory == country.upper():
                return name
        official = languages.get_official_languages(country.upper(), de_facto=True)
        for language in official:
            for name, locale in sorted(parsed.items()):
                if locale.language == language:
                    return name
    for name, locale in sorted(parsed.items()):
        if locale.language == "en":
            return name
    return sorted(available)[0]


# --- variables -------------------------------------------------------------------------------


# "No tier" as templates see it (a program without a tier at threshold 0: a member below its lowest
# one): texts that print as nothing, so that ``{{ previous_tier.code }}`` renders where it failed
# ("'dict object' has no attribute 'code'") and every first promotion's message with it.
NO_TIER: Mapping[str, Any] = {"code": "", "name": "", "earn_percent": None}


def _tier(tier: Mapping[str, Any] | None) -> dict[str, Any]:
    return dict(tier) if tier else dict(NO_TIER)


def member_variables(member: Mapping[str, Any], tier: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "id": str(member["id"]),
        "name": member.get("name"),
        "phone": member.get("phone"),
        "email": member.get("email"),
        "city": member.get("city"),
        "birthday": member.get("birthday"),
        "tier": _tier(tier),
    }


def base_variables(
    member: Mapping[str, Any],
    tier: Mapping[str, Any] | None,
    *,
    currency: str,
    locale: str,
    timezone: str,
) -> dict[str, Any]:
    return {
        "member": member_variables(member, tier),
        "currency": currency,
        "locale": locale,
        "timezone": timezone,
    }


def receipt_variables(result: Mapping[str, Any]) -> dict[str, Any]:
    """From a receipt's result (contract 7)."""
    totals = result.get("totals") or {}
    balance = result.get("balance") or {}
    receipt = {
        "id": result.get("id"),
        "number": result.get("number"),
        "store": result.get("store"),
        "at": result.get("at"),
        "amount": totals.get("amount"),
        "discount": totals.get("discount"),
        "paid": totals.get("paid"),
        "points_spent": totals.get("points_spent", 0),
        "points_earned": totals.get("points_earned", 0),
    }
    return {
        "receipt": receipt,
        "points_earned": receipt["points_earned"],
        "points_spent": receipt["points_spent"],
        "balance": balance.get("after"),
    }


def _moment_text(value: Any) -> Any:
    """A moment as every trigger's variables carry it, and as a template is checked with: RFC 3339
    text (the lots' expiries came as datetimes, so a template checked on the text failed to send)."""
    return value.isoformat() if isinstance(value, datetime) else value


def expiring_variables(lots: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    ordered = sorted(lots, key=lambda lot: _moment_text(lot["expires_at"]))
    return {
        "points": sum(int(lot["points"]) for lot in ordered),
        "expires_at": _moment_text(ordered[0]["expires_at"]) if ordered else None,
        "lots": [
            {"points": int(lot["points"]), "expires_at": _moment_text(lot["expires_at"])} for lot in ordered
        ],
    }


def birthday_variables(data: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "points": data.get("points"),
        "available_from": data.get("available_from"),
        "expires_at": data.get("expires_at"),
        "valid_days": data.get("valid_days"),
    }


def tier_variables(data: Mapping[str, Any]) -> dict[str, Any]:
    return {"tier": _tier(data.get("tier")), "previous_tier": _tier(data.get("previous_tier"))}


_SAMPLE_MEMBER = {
    "id": "00000000-0000-0000-0000-000000000000",
    "name": "Anna",
    "phone": "+79001234567",
    "email": "anna@example.com",
    "city": "Moscow",
    "birthday": date(1990, 5, 17),
}
_SAMPLE_TIER = {"code": "silver", "name": "Silver", "earn_percent": "7"}


def sample_variables(
    trigger: str, *, currency: str = "EUR", locale: str = "en", no_tier: bool = False
) -> dict[str, Any]:
    """Variables like those a real message of ``trigger`` gets, to check a template with;
    ``no_tier``: the member's tiers (``member.tier``, ``tier``, ``previous_tier``) are "no tier"."""
    variables = base_variables(
        _SAMPLE_MEMBER,
        None if no_tier else _SAMPLE_TIER,
        currency=currency,
        locale=locale,
        timezone="Europe/Moscow",
    )
    at = "2026-12-05T12:00:00+03:00"
    if trigger == "receipt":
        variables |= receipt_variables(
            {
                "id": _SAMPLE_MEMBER["id"],
                "number": "R1",
                "store": "S001",
                "at": at,
                "totals": {
                    "amount": "99.80",
                    "discount": "0.00",
                    "paid": "79.80",
                    "points_spent": 20,
                    "points_earned": 3,
                },
                "balance": {"before": 100, "after": 80},
            }
        )
    elif trigger == "points_expiring":
        variables |= expiring_variables([{"points": 120, "expires_at": at}])
    elif trigger == "birthday":
        variables |= birthday_variables(
            {"points": 300, "available_from": at, "expires_at": "2026-12-19T00:00:00+03:00", "valid_days": 14}
        )
    elif trigger == "tier_changed":
        base = {"code": "base", "name": "Base", "earn_percent": "5"}
        variables |= tier_variables(
            {"tier": None, "previous_tier": None}
            if no_tier
            else {"tier": _SAMPLE_TIER, "previous_tier": base}
        )
    return variables


def check(source: str, trigger: str, *, currency: str = "EUR", locale: str = "en") -> None:
    """Raises TemplateProblem unless ``source`` parses and renders with ``trigger``'s variables,
    both with tiers and with "no tier" (a member below a program's lowest threshold)."""
    for no_tier in (False, True):
        render(source, sample_variables(trigger, currency=currency, locale=locale, no_tier=no_tier))
