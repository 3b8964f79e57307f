"""Reading staff form fields: dates and times typed in the showroom's zone, numbers, ids and
yes/no choices, each refused with the field named (FormError); and `safe_next`, the only way a
form's return address is followed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time
from urllib.parse import urlsplit

from cdp.errors import InvalidInput
from cdp.ids import row_id
from cdp.local_time import local_start


def parse_date(raw: str | None, *, field_name: str, label: str = "date") -> date | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError as error:
        raise InvalidInput(
            f"{text!r} is not a {label}: use the date picker or type it as 2026-03-14.",
            field=field_name,
        ) from error


def parse_time(raw: str | None, *, field_name: str) -> time | None:
    text = (raw or "").strip()
    if not text:
        return None
    try:
        parsed = time.fromisoformat(text)
    except ValueError as error:
        raise InvalidInput(
            f"{text!r} is not a time of day: type it as 14:30.", field=field_name
        ) from error
    return parsed.replace(second=0, microsecond=0, tzinfo=None)


def parse_local_datetime(
    day: str | None, at: str | None, *, field_name: str, default_time: time
) -> datetime | None:
    """A date and optional time typed in the showroom, as UTC; None when no date was given."""
    parsed_day = parse_date(day, field_name=field_name)
    parsed_time = parse_time(at, field_name=field_name + "_time")
    if parsed_day is None:
        if parsed_time is not None:
            raise InvalidInput("Pick a date for this time.", field=field_name)
        return None
    try:
        return local_start(parsed_day, parsed_time or default_time)
    except OverflowError:  # the first minutes of 0001-01-01 have no UTC time before them
        raise InvalidInput(
            f"{parsed_day.isoformat()} is not a date to plan for: pick a date from now on.",
            field=field_name,
        ) from None


def parse_int(raw: str | None, *, field_name: str, label: str, low: int, high: int) -> int | None:
    text = (raw or "").strip().replace(".", "").replace(" ", "")
    if not text:
        return None
    try:
        value = int(text)
    except ValueError as error:
        raise InvalidInput(f"{label} must be a whole number.", field=field_name) from error
    if not low <= value <= high:
        raise InvalidInput(f"{label} must be between {low} and {high}.", field=field_name)
    return value


def parse_choice_bool(raw: str | None, *, field_name: str) -> bool | None:
    text = (raw or "").strip().lower()
    if text in ("", "unknown"):
        return None
    if text in ("yes", "true", "1"):
        return True
    if text in ("no", "false", "0"):
        return False
    raise InvalidInput("Choose yes, no, or leave it open.", field=field_name)


def parse_id(raw: str | None, *, field_name: str, what: str) -> int | None:
    text = (raw or "").strip()
    if not text:
        return None
    value = row_id(text)
    if value is None:
        raise InvalidInput(f"Choose {what} from the list.", field=field_name)
    return value


def safe_next(raw: str | None, default: str, *, within: str = "/showroom") -> str:
    """Where to go after a form or a sign-in: a local path under `within`, else `default`.

    Only local paths: an open redirect would let a phishing link bounce through us. Browsers read
    "/\\host" as "//host" and drop tabs and newlines before they look, so those are refused too.
    """
    text = (raw or "").strip()
    try:
        parts = urlsplit(text)
    except ValueError:  # a malformed port or IPv6 literal ("http://[::1"): no place to go
        return default
    if (
        not text.startswith(within)
        or parts.scheme
        or parts.netloc
        or "//" in text
        or "\\" in text
        or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text)
    ):
        return default
    return text


@dataclass
class FormError:
    """A refused form: which form, on which lead or row, which field, and why."""

    form: str
    message: str
    field: str | None = None
    target_id: int | None = None
