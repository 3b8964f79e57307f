"""Normalising identifiers, and refusing the placeholder values that would link strangers."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from functools import lru_cache

import phonenumbers

# Values that broken tracking code sends instead of a real id (PostHog's and Segment's lists).
_PLACEHOLDERS_ANY_CASE = frozenset(
    {
        "anonymous",
        "guest",
        "distinctid",
        "distinct_id",
        "id",
        "not_authenticated",
        "email",
        "undefined",
        "true",
        "false",
        "null",
        "none",
        "nil",
        "nan",
        "[object object]",
        "unknown",
        "user",
        "userid",
        "user_id",
        "anonymousid",
        "anonymous_id",
        "-1",
    }
)
_ZEROS_AND_DASHES = re.compile(r"^[0\-]*$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


# The width of identity.value: a longer identifier cannot be stored, so it is not used.
MAX_IDENTIFIER_LENGTH = 400

# Strongest first: the profile matched by the strongest identifier receives the message.
KIND_RANK = {"user_id": 0, "email": 1, "phone": 2, "anonymous_id": 3, "config_code": 4}
STRONG_KINDS = frozenset({"user_id", "email", "phone"})


@dataclass(frozen=True, slots=True)
class Identifier:
    kind: str
    value: str


def placeholder_reason(raw: str) -> str | None:
    """Why `raw` is not a usable identifier, or None when it is."""
    stripped = raw.strip()
    unquoted = stripped.strip("'\"").strip()
    if not unquoted:
        return "blank"
    if unquoted.lower() in _PLACEHOLDERS_ANY_CASE:
        return f"placeholder value {stripped!r}"
    if _ZEROS_AND_DASHES.match(unquoted):
        return f"placeholder value {stripped!r}"
    return None


def normalise_id(raw: str) -> str:
    """userId and anonymousId: trimmed; case kept except that e-mail-like ids compare lower-case."""
    value = raw.strip()
    return value.lower() if "@" in value else value


@lru_cache(maxsize=65536)
def normalise_email(raw: str) -> str | None:
    # Invisible characters (zero-width spaces and joiners, byte-order marks) come with addresses
    # copied from web pages and documents; nobody types them, so they are dropped rather than
    # making the same address a second person. A control character makes it no address.
    if not raw.isascii():  # every invisible character is outside ASCII
        raw = "".join(ch for ch in raw if unicodedata.category(ch) != "Cf")
        # Full-width and other compatibility forms (U+FF41 for "a") are the letters they show.
        raw = unicodedata.normalize("NFKC", raw)
    value = raw.strip().lower()
    if _CONTROL.search(value):
        return None
    if value.startswith("mailto:"):
        value = value[7:]
    value = value.rstrip(".")  # the full stop that ended a sentence the address was copied from
    # 254: the longest address SMTP can deliver to (RFC 5321).
    return value if len(value) <= 254 and _EMAIL.match(value) else None


@lru_cache(maxsize=65536)
def normalise_phone(raw: str, regions: str) -> str | None:
    """E.164 ("+31612345678"), or None when the number cannot be valid.

    `regions` ("NL,BE") are tried in order for numbers written without a country code: the first
    region where the number is valid wins, so a Belgian "0470 12 34 56" is +32 even on a Dutch
    site. A number valid in none of them falls back to the first region if it is possible there.
    """
    text = raw.strip()
    if not text:
        return None
    fallback = None
    for region in [r.strip().upper() for r in regions.split(",") if r.strip()] or ["NL"]:
        try:
            number = phonenumbers.parse(text, region)
        except phonenumbers.NumberParseException:
            continue
        if phonenumbers.is_valid_number(number):
            return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
        if fallback is None and phonenumbers.is_possible_number(number):
            fallback = str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))
    return fallback


def normalise_code(raw: str) -> str:
    return raw.strip().upper()
