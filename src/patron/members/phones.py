"""Phone numbers in any common format, normalised to E.164 with the program's country."""

from __future__ import annotations

import re
import unicodedata

import phonenumbers

# What may hold letters in a phone as written: a label or "tel:" link before it, and an extension
# after it (dropped): "ext. 5", "extension 5", "Ext: 5", "x5", "#5", "anexo 12", "доб. 5".
_LABEL = r"(?:tel(?:ephone)?|phone|tél|тел)\.?\s*:?\s*"
_EXTENSION = r"(?:;ext=|ext(?:ension|n)?\.?|x|#|anexo|durchwahl|доб(?:авочный)?\.?)\s*:?\s*\d+"
_DIALLABLE = re.compile(rf"^(?:{_LABEL})?(?P<number>.*?)(?:\s*{_EXTENSION})?\s*$", re.I | re.S)


# E.164's limit: the phone library takes some longer numbers as valid (a German one of 17 digits),
# which the members table (at most 16) refused with a 500, and which no SMS provider would take.
MAX_DIGITS = 15


class Explained(ValueError):
    """A refusal whose own words are shown to the client (others say "not a phone number")."""


class NoCountry(Explained):
    """A national number where the program names no country to read it in."""


def normalize(raw: str, country: str | None) -> str:
    """``raw`` as E.164 (``+79001234567``); ValueError when it cannot be a phone number.

    Letters are refused outside a "tel:" prefix and an extension: phonenumbers reads them as
    a keypad's (vanity numbers), so a till's typo, "030 1234567O" or "... ext" with no digits,
    became another member's number."""
    text = raw.strip()
    if not text or len(text) > 40:
        raise ValueError("not a phone number")
    diallable = _DIALLABLE.match(text)
    if diallable is None or any(ch.isalpha() for ch in diallable.group("number")):
        raise ValueError("not a phone number: it has letters")
    # the number alone: the phone library knows "ext." but not "durchwahl" or "добавочный"
    number = diallable.group("number")
    digits = "".join(str(unicodedata.digit(ch)) for ch in number if ch.isdigit())
    parsed = _valid(number, country)
    if parsed is None and digits.startswith("00") and "+" not in number:
        # 00 is the international prefix of most of the world: read as "+" when the country's own
        # prefix does not give a number (there is no country; Russia's is 8~10). Not before: 0011
        # is Australia's, and Korea's 008 is longer than 00 ("008 20 ..." is Egypt's +20; read as
        # "+8 20 ..." it was Korea's +82, another member's number)
        parsed = _valid("+" + digits[2:], None)  # "(00) 44 ...", "００44 ..." too
    if parsed is None and country is None and "+" not in number and not digits.startswith("00"):
        raise NoCountry("not a phone number in international form (+44 ...), and the program has no country")
    if parsed is None:
        raise ValueError("not a valid phone number")
    e164 = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    if len(e164) - 1 > MAX_DIGITS:
        raise Explained(f"longer than a phone number may be ({MAX_DIGITS} digits with the country code)")
    return e164


def _valid(text: str, country: str | None) -> phonenumbers.PhoneNumber | None:
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else country)
    except phonenumbers.NumberParseException:
        return None
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        return None
    return parsed
