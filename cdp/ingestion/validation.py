"""Validating Segment messages: the batch's defaults merged into each, depth and size within the
limits, and the first problem named the way a tracking library can report it."""

from __future__ import annotations

import sys
from typing import Any

import orjson
from pydantic import ValidationError

from cdp import json_exact
from cdp.ingestion.schemas import MAX_MESSAGE_BYTES, MAX_MESSAGE_DEPTH, Message, Rejection
from cdp.text import nul_character_at


def _describe(error: ValidationError) -> tuple[str | None, str]:
    first = error.errors(include_url=False)[0]
    loc = ".".join(str(part) for part in first["loc"])
    message = first["msg"]
    if not loc and ": " in message:  # our own cross-field checks name the field first
        message = message.removeprefix("Value error, ")
        loc, message = message.split(": ", 1)
    return (loc or None), message.removeprefix("Value error, ")


def _with_batch_defaults(raw: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """A batch's context, integrations and sentAt apply to each message: a message's own keys
    win, its explicit nulls do not erase the batch's values, and objects merge one level deep."""
    merged = dict(raw)
    for key, batch_value in defaults.items():
        own = raw.get(key)
        if batch_value is None:
            continue
        if own is None:
            merged[key] = batch_value
        elif isinstance(own, dict) and isinstance(batch_value, dict):
            merged[key] = {**batch_value, **own}
    return merged


def _shape_problem(written: json_exact.Written) -> str | None:
    if written.depth > MAX_MESSAGE_DEPTH:
        return (
            f"nested {written.depth} levels deep (objects and arrays); "
            f"the limit is {MAX_MESSAGE_DEPTH}"
        )
    if written.oversize:
        return f"holds an integer of more than {sys.get_int_max_str_digits()} digits"
    return None


def too_deep_or_oversize(defaults: dict[str, Any]) -> tuple[str, str] | None:
    """The field and problem of a batch's context or integrations that would make every
    message it is merged into refused (see validate_message), or None."""
    try:
        orjson.dumps(defaults)
        return None
    except TypeError:
        pass
    for name, value in defaults.items():
        reason = _shape_problem(json_exact.write({name: value}))
        if reason is not None:
            return name, reason
    return None


def validate_message(
    raw: Any,
    *,
    index: int,
    check_size: bool,
    defaults: dict[str, Any] | None = None,
    check_nul: bool = True,
    check_depth: bool = True,
) -> Message | Rejection:
    """One raw JSON value to a Message, or the reason it is refused.

    `check_depth=False` only when no message can be nested more than MAX_MESSAGE_DEPTH levels
    nor hold an integer orjson cannot write (the body has fewer objects and arrays than that,
    and no long run of digits); `check_size` measures the message too."""
    if not isinstance(raw, dict):
        return Rejection(index=index, field=None, reason="a message must be a JSON object")
    if check_size or check_depth:
        try:  # orjson writes no more than MAX_MESSAGE_DEPTH levels: a cheap check of the depth
            size = len(orjson.dumps(raw))
        except TypeError:  # nested deeper, or an integer past 64 bits: measured the slow way
            written = json_exact.write(raw)
            if (reason := _shape_problem(written)) is not None:
                return Rejection(index=index, field=None, reason=reason)
            size = len(written.text.encode())
        if check_size and size > MAX_MESSAGE_BYTES:
            return Rejection(
                index=index,
                field=None,
                reason=f"message is {size} bytes; the limit is {MAX_MESSAGE_BYTES} bytes",
            )
    if defaults:
        raw = _with_batch_defaults(raw, defaults)
    if check_nul and (where := nul_character_at(raw)) is not None:
        reason = "contains a NUL character (\\u0000), which cannot be stored"
        return Rejection(index=index, field=where[:200], reason=reason)
    try:
        return Message.model_validate(raw)
    except ValidationError as error:
        loc, reason = _describe(error)
        return Rejection(index=index, field=loc, reason=reason)
