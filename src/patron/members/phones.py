"""Phone numbers in any common format, normalised to E.164 with the program's country."""

from __future__ import annotations

import re

import phonenumbers

# What may hold letters in a phone as written: a "tel:" link, and an extension at the end (dropped).
_DIALLABLE = re.compile(
    r"^(?:tel:)?(?P<number>.*?)(?:\s*(?:;ext=|ext\.?|x|#|доб\.?)\s*\d+)?\s*$", re.I | re.S
)


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
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
