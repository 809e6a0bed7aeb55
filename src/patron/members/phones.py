"""Phone numbers in any common format, normalised to E.164 with the program's country."""

from __future__ import annotations

import phonenumbers


def normalize(raw: str, country: str | None) -> str:
    """``raw`` as E.164 (``+79001234567``); ValueError when it cannot be a phone number."""
    text = raw.strip()
    if not text or len(text) > 40:
        raise ValueError("not a phone number")
    if text.startswith("00"):
        text = "+" + text[2:]
    try:
        parsed = phonenumbers.parse(text, None if text.startswith("+") else country)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from exc
    if not phonenumbers.is_possible_number(parsed) or not phonenumbers.is_valid_number(parsed):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
