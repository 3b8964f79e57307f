"""Consent recorded by staff: a customer who grants or withdraws consent by phone, on a paper
form or at the desk (docs/privacy.md, "Consent recorded by staff").

A statement is one `consent` row like those ingest stores, with who recorded it, why, how it
came in and at which dealer; it is in force at once (cdp.consent.history, and every export:
segmentation/marketing_consent.py). A grant for an e-mail address or phone number that an
erasure suppressed is the person agreeing again: it lifts that suppression, with a record of
who and why (cdp.profiles.suppression), as a grant arriving through ingest does.
"""

from __future__ import annotations

import contextlib
import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cdp.audit.service import record
from cdp.consent import repository as repo
from cdp.dealers.service import dealer_ids_of
from cdp.errors import InvalidInput, NotFound
from cdp.identity.identifiers import Identifier, normalise_email, normalise_phone
from cdp.models import CONSENT_PURPOSES, CONSENT_STATUSES, Consent
from cdp.profiles import suppression
from cdp.tablet.service import CONSENT_WORDING

RECORDED_VIA = "staff page"
MAX_REASON = 500
MAX_WORDING = 2000
# What the customer said when they withdrew, unless staff write their words.
WITHDRAWAL_WORDING = {
    "email": "Please stop sending me e-mail offers and news.",
    "phone": "Please stop calling me and sending me text messages about offers.",
    "tracking": "Please stop keeping my choices in my customer profile.",
}
# Reasons staff most often give: offered as suggestions, any other text will do.
COMMON_REASONS = (
    "customer asked by phone",
    "customer asked in the showroom",
    "signed paper form",
    "customer asked by e-mail",
)


def default_wording(purpose: str, status: str) -> str:
    words = CONSENT_WORDING if status == "granted" else WITHDRAWAL_WORDING
    return words.get(purpose, "")


@dataclass(frozen=True, slots=True)
class StaffStatement:
    """What a member of staff typed (or chose) on the form, as typed."""

    purpose: str
    status: str
    address: str
    reason: str
    wording: str


def check(
    session: Session, profile_id: uuid.UUID, given: StaffStatement, *, phone_region: str
) -> tuple[str | None, dict[str, str]]:
    """The address the statement is for (normalised), and what is wrong, per form field."""
    problems: dict[str, str] = {}
    if given.purpose not in CONSENT_PURPOSES:
        problems["purpose"] = "Choose e-mail, phone or tracking."
    if given.status not in CONSENT_STATUSES:
        problems["status"] = "Choose whether the customer grants or withdraws consent."
    reason = given.reason.strip()
    if not reason:
        problems["reason"] = (
            "Say why you record this, e.g. “customer asked by phone” or “signed paper form”."
        )
    elif len(reason) > MAX_REASON:
        problems["reason"] = f"Keep the reason under {MAX_REASON} characters."
    wording = given.wording.strip()
    if given.status == "granted" and not wording:
        problems["wording"] = "Give the words the customer agreed to."
    elif len(wording) > MAX_WORDING:
        problems["wording"] = f"Keep the wording under {MAX_WORDING} characters."
    address = None
    if given.purpose in ("email", "phone"):
        address, problem = _held_address(session, profile_id, given, phone_region=phone_region)
        if problem:
            problems["address"] = problem
    elif given.purpose == "tracking" and given.address.strip():
        problems["address"] = "Tracking consent is about the person, not an address."
    return address, problems


def _held_address(
    session: Session, profile_id: uuid.UUID, given: StaffStatement, *, phone_region: str
) -> tuple[str | None, str | None]:
    what = "e-mail address" if given.purpose == "email" else "phone number"
    typed = given.address.strip()
    if not typed:
        return None, f"Choose the {what} the customer gave consent for."
    held = {
        value
        for kind, value in repo.contact_identifiers(session, repo.profile_ids(session, profile_id))
        if kind == given.purpose
    }
    if typed in held:
        return typed, None
    normal = (
        normalise_email(typed) if given.purpose == "email" else normalise_phone(typed, phone_region)
    )
    if normal in held:
        return normal, None
    return None, f"This customer has no such {what}: choose one of theirs."


def record_by_staff(
    session: Session,
    profile_id: uuid.UUID,
    given: StaffStatement,
    *,
    staff_user_id: int,
    staff_email: str,
    now: datetime,
    phone_region: str,
) -> Consent:
    """Record the statement for a live profile (flushed, not committed), audited; InvalidInput
    naming the first field that is wrong (`check` gives them all)."""
    address, problems = check(session, profile_id, given, phone_region=phone_region)
    if problems:
        field, message = next(iter(problems.items()))
        raise InvalidInput(message, field=field)
    dealers = dealer_ids_of(session, staff_user_id)
    statement = Consent(
        profile_id=profile_id,
        purpose=given.purpose,
        status=given.status,
        stated_at=now,
        recorded_at=now,
        wording=given.wording.strip() or None,
        address=address,
        recorded_by_user_id=staff_user_id,
        reason=given.reason.strip(),
        recorded_via=RECORDED_VIA,
        dealer_id=min(dealers) if dealers else None,
    )
    session.add(statement)
    session.flush()
    if given.status == "granted" and address is not None:
        _lift_suppression(session, given.purpose, address, statement, staff_email, now)
    record(
        session,
        "consent",
        actor=staff_email,
        staff_user_id=staff_user_id,
        profile_id=profile_id,
        # No address and no reason: the record outlives the person (cdp.audit.service).
        detail=f"{given.purpose} consent {given.status} (statement {statement.id})",
    )
    return statement


def _lift_suppression(
    session: Session,
    purpose: str,
    address: str,
    statement: Consent,
    staff_email: str,
    now: datetime,
) -> None:
    if not suppression.any_entries(session):
        return
    with contextlib.suppress(NotFound):  # NotFound: nobody erased had this address
        suppression.lift(
            session,
            [Identifier(purpose, address)],
            now=now,
            by=staff_email,
            reason=f"{purpose} consent granted on the staff page (statement {statement.id}): "
            f"{statement.reason}",
        )
