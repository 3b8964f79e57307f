"""The bodies that hold ADF documents in the files dealer CRMs receive: the XML itself, an e-mail
message (.eml) or a mailbox (.mbox) whose messages carry it in their text or as an attachment."""

from __future__ import annotations

import mailbox
from collections.abc import Iterator
from email import policy
from email.message import Message
from email.parser import BytesParser
from pathlib import Path

_XMLISH = ("text/plain", "text/html", "text/xml", "application/xml", "application/x-adf+xml")


def _parts(message: Message) -> Iterator[bytes]:
    for part in message.walk():
        if part.is_multipart() or part.get_content_type() not in _XMLISH:
            continue
        payload = part.get_payload(decode=True)
        if isinstance(payload, bytes) and payload:
            yield payload


def bodies_of_message(raw: bytes) -> list[bytes]:
    """The text parts and XML attachments of one e-mail message; its ADF is found in them."""
    message = BytesParser(policy=policy.compat32).parsebytes(raw)
    return list(_parts(message))


def bodies_of_file(path: Path) -> list[bytes]:
    """What a file holds, by its kind: an mbox's messages, an e-mail's parts, or the file."""
    suffix = path.suffix.lower()
    if suffix == ".mbox":
        box = mailbox.mbox(str(path), create=False)
        try:
            return [body for message in box for body in _parts(message)]
        finally:
            box.close()
    raw = path.read_bytes()
    if suffix == ".eml":
        return bodies_of_message(raw)
    return [raw]
