"""The person's rejected messages: rows of the quarantine that carry one of their identifiers.

A refused message is kept raw (the JSON text as it arrived) with no profile, since it was refused
before identity resolution; yet it can hold an e-mail address, a phone number, a userId or an
anonymousId. Subject access (art. 15) and erasure (art. 17) both use `quarantined_messages` so
that they cover the same rows.

A message is the person's when it holds one of the identity values of their profiles:
- an e-mail address anywhere in a text, in any case ("Mail me at ANNA@example.com"), but not as
  part of a longer address ("joanna@example.com");
- a userId or anonymousId (also previousId) as the value of such a field, at any depth, as ingest
  normalises it; not anywhere else, because short ids ("42") also occur as other values;
- a phone number in any spelling ("+31612345678", "06-12345678", "0612 345 678",
  "+31 (0)6 1234 5678"), as a whole value or within a text, read in the country of the stored
  number; a configuration code as a whole value.

Cost: the quarantine has no index on its text. Every row whose text contains one of the values
(lower-cased, as the JSON encodes it; for a phone, the digits of its national number once
spaces, dashes, dots, slashes and brackets are taken out) is read with LIKE, which scans the
table, and then checked value by value. That is fine for a request a person makes now and
then, not for anything frequent.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import phonenumbers
from sqlalchemy import ColumnElement, Text, any_, bindparam, delete, func, literal, or_, select
from sqlalchemy.dialects import postgresql
from sqlalchemy.orm import Session

from cdp import json_exact
from cdp.identity.identifiers import normalise_code, normalise_id, normalise_phone
from cdp.models import Identity, QuarantinedMessage
from cdp.sql import dialect_of

# Needles per LIKE query on SQLite (its expressions may be at most 1000 deep).
_CHUNK = 100
_ID_FIELDS = frozenset({"userid", "anonymousid", "previousid"})


@dataclass(frozen=True)
class _Identifiers:
    ids: frozenset[str]  # user_id and anonymous_id values
    exact: frozenset[str]  # phones (E.164) and configuration codes, compared as a whole
    email_pattern: re.Pattern[str] | None
    phones: frozenset[str] = frozenset()  # E.164
    phone_regions: str = ""  # the countries of those numbers, to read other spellings in

    @classmethod
    def of(cls, rows: Sequence[tuple[str, str]]) -> _Identifiers:
        emails = frozenset(value for kind, value in rows if kind == "email")
        # Not inside a longer address: no address character before it, none after it (a dot
        # followed by a letter would make it a longer domain; a dot ending a sentence does not).
        pattern = (
            re.compile(
                r"(?<![\w.!#$%&'*+/=?^`{|}~-])(?:"
                + "|".join(re.escape(e) for e in sorted(emails, key=len, reverse=True))
                + r")(?![\w-]|\.\w)",
                re.IGNORECASE,
            )
            if emails
            else None
        )
        phones = frozenset(value for kind, value in rows if kind == "phone")
        return cls(
            ids=frozenset(v for k, v in rows if k in ("user_id", "anonymous_id")),
            exact=frozenset(v for k, v in rows if k in ("phone", "config_code")),
            email_pattern=pattern,
            phones=phones,
            phone_regions=",".join(sorted({r for p in phones if (r := _region_of(p))})),
        )

    def in_text(self, text: str) -> bool:
        if self.email_pattern is not None and self.email_pattern.search(text):
            return True
        if normalise_code(text) in self.exact:  # codes are upper-case; phones have no case
            return True
        return bool(self.phones) and self._phone_in(text)

    def _phone_in(self, text: str) -> bool:
        if not any(ch.isdigit() for ch in text):
            return False
        for region in self.phone_regions.split(","):
            if normalise_phone(text, region) in self.phones:  # the whole value, any spelling
                return True
            # Within a text; stored numbers may be merely possible (see normalise_phone).
            within = phonenumbers.PhoneNumberMatcher(
                text, region, leniency=phonenumbers.Leniency.POSSIBLE
            )
            for match in within:
                e164 = phonenumbers.format_number(match.number, phonenumbers.PhoneNumberFormat.E164)
                if e164 in self.phones:
                    return True
        return False

    def as_id(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return False
        return normalise_id(str(value)) in self.ids


def _region_of(e164: str) -> str | None:
    try:
        number = phonenumbers.parse(e164)
    except phonenumbers.NumberParseException:
        return None
    # By its country code: a number stored as merely possible has no region of its own.
    region = phonenumbers.region_code_for_country_code(number.country_code or 0)
    return None if region == phonenumbers.UNKNOWN_REGION else region


def _national_digits(e164: str) -> str | None:
    """The digits every spelling of the number holds in a row once separators are taken out:
    "612345678" in "+31612345678", "0612345678" and "0031612345678"."""
    try:
        return phonenumbers.national_significant_number(phonenumbers.parse(e164))
    except phonenumbers.NumberParseException:
        return None


def _values(message: Any) -> Iterator[tuple[str | None, Any]]:
    """Every scalar of a parsed message with the name of the field that holds it (None in a
    list or at the top), without recursion: a refused message may be nested very deep."""
    stack: list[tuple[str | None, Any]] = [(None, message)]
    while stack:
        key, value = stack.pop()
        if isinstance(value, dict):
            stack.extend((str(k), v) for k, v in value.items())
        elif isinstance(value, list):
            stack.extend((None, v) for v in value)
        else:
            yield key, value


def _carries(raw: str, identifiers: _Identifiers) -> bool:
    try:
        message = json_exact.loads(raw.encode())  # a numeric userId past 64 bits stays exact
    except orjson.JSONDecodeError:  # not expected (ingest writes it with orjson): read as text
        return identifiers.in_text(raw) or any(
            orjson.dumps(value).decode() in raw for value in identifiers.ids
        )
    for key, value in _values(message):
        is_id_field = key is not None and key.replace("_", "").lower() in _ID_FIELDS
        if is_id_field and identifiers.as_id(value):
            return True
        if isinstance(value, str) and identifiers.in_text(value):
            return True
    return False


def _as_stored(value: str) -> str:
    """The value as it appears inside the stored JSON text (quotes, backslashes and control
    characters escaped), lower-cased to be compared with the lower-cased text."""
    return orjson.dumps(value).decode()[1:-1].lower()


def quarantined_messages(
    session: Session, profile_ids: Sequence[uuid.UUID]
) -> list[QuarantinedMessage]:
    """The quarantined messages that carry an identifier of these profiles, oldest first."""
    rows = [
        (kind, value)
        for kind, value in session.execute(
            select(Identity.kind, Identity.value).where(Identity.profile_id.in_(profile_ids))
        )
    ]
    if not rows:
        return []
    identifiers = _Identifiers.of(rows)
    needles = sorted({_as_stored(value) for kind, value in rows if kind != "phone"})
    phones = [value for kind, value in rows if kind == "phone"]
    digits = sorted({d for phone in phones if (d := _national_digits(phone))})
    found: dict[int, QuarantinedMessage] = {}
    conditions = [*_containing(session, needles), *_containing(session, digits, phones=True)]
    for where in conditions:
        for message in session.scalars(select(QuarantinedMessage).where(where)):
            if message.id not in found and _carries(message.raw, identifiers):
                found[message.id] = message
    return [found[key] for key in sorted(found)]


# Written between the digits of a phone number: "06-1234 5678", "(06) 12.34.56.78", "06/1234".
_PHONE_SEPARATORS = (" ", "-", ".", "/", "(", ")")


def _without_separators(text: ColumnElement[str]) -> ColumnElement[str]:
    for separator in _PHONE_SEPARATORS:
        text = func.replace(text, literal(separator), literal(""))
    return text


def _containing(
    session: Session, needles: Sequence[str], *, phones: bool = False
) -> Iterator[ColumnElement[bool]]:
    """Conditions that together select every message whose lower-cased text holds a needle
    (with `phones`, its text without the separators of a phone number); each is one scan of
    the table. % and _ in a needle match themselves, not any text."""
    if not needles:
        return
    text: ColumnElement[str] = func.lower(QuarantinedMessage.raw)
    if phones:
        text = _without_separators(text)
    if dialect_of(session) == "postgresql":
        # One scan, lower() once per row: `LIKE ANY (array)` took 11 s where ORed LIKEs took
        # 70 s (500,000 messages, a person with 105 identifiers). LIKE's default escape is \.
        patterns = ["%" + re.sub(r"([\\%_])", r"\\\1", needle) + "%" for needle in needles]
        yield text.like(any_(bindparam(None, patterns, type_=postgresql.ARRAY(Text))))
        return
    # SQLite: ORed LIKEs, in chunks that keep the expression within its depth limit.
    for start in range(0, len(needles), _CHUNK):
        chunk = needles[start : start + _CHUNK]
        yield or_(*(text.contains(needle, autoescape=True) for needle in chunk))


def delete_messages(session: Session, messages: Sequence[QuarantinedMessage]) -> int:
    """Delete these quarantined messages; how many went. In chunks: a client stuck in a loop can
    leave thousands of one person's messages, more than one IN list may hold on SQLite."""
    ids = [message.id for message in messages]
    deleted = 0
    for start in range(0, len(ids), 1000):
        chunk = ids[start : start + 1000]
        result = session.execute(delete(QuarantinedMessage).where(QuarantinedMessage.id.in_(chunk)))
        deleted += result.rowcount or 0  # type: ignore[attr-defined]
    return deleted
