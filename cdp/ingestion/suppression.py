"""What the suppression of erased people (cdp.profiles.suppression) reads of incoming messages."""

from __future__ import annotations

from typing import Any

from cdp.identity.identifiers import (
    Identifier,
    normalise_email,
    normalise_id,
    normalise_phone,
    placeholder_reason,
)
from cdp.ingestion.prepare import PreparedMessage
from cdp.ingestion.schemas import aware
from cdp.profiles.suppression import Screened


def screened(item: PreparedMessage) -> Screened:
    """An accepted message: its identifiers, its earliest stated time and any consent it grants.

    The earliest, because a replay that kept its old sentAt gets an event time of about now
    (the clock correction reads the gap between sentAt and timestamp), yet says when it was
    written."""
    message = item.message
    stated = [
        aware(moment)
        for moment in (message.timestamp, message.originalTimestamp, message.sentAt)
        if moment is not None
    ]
    granted = next((c.purpose for c in item.consents if c.status == "granted"), None)
    return Screened(
        message_id=item.message_id,
        identifiers=[*item.identifiers, *item.also_matches],
        dated=min([item.occurred_at, *stated]),
        granted=granted,
    )


def refused(raw: Any, *, phone_region: str) -> Screened:
    """A refused message, read as far as it can be (it may be broken anywhere): the identifiers
    in the fields ingest takes them from. Its time is not trusted."""
    found: list[Identifier] = []
    if not isinstance(raw, dict):
        return Screened(message_id=None, identifiers=found, dated=None)

    def add(kind: str, value: Any) -> None:
        if isinstance(value, bool) or not isinstance(value, str | int):
            return
        text = str(value)
        if placeholder_reason(text) is not None:
            return
        if kind == "email":
            normal = normalise_email(text)
        elif kind == "phone":
            normal = normalise_phone(text, phone_region)
        else:
            normal = normalise_id(text)
        if normal is not None:
            found.append(Identifier(kind, normal))

    add("user_id", raw.get("userId"))
    add("anonymous_id", raw.get("anonymousId"))
    add("anonymous_id", raw.get("previousId"))
    add("user_id", raw.get("previousId"))
    context = raw.get("context")
    for traits in (raw.get("traits"), context.get("traits") if isinstance(context, dict) else None):
        if isinstance(traits, dict):
            add("email", traits.get("email"))
            add("phone", traits.get("phone"))
    return Screened(message_id=None, identifiers=found, dated=None)
