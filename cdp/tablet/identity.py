"""Who the customer typed on the tablet is, and what of it may change their profile.

A returning customer entered as new (their known e-mail or phone typed in again) lands on their
own profile. What was typed must then never replace what we hold without the salesperson saying
so: "Rubin Jong" typed for the e-mail of Ruben de Jong once renamed him on his profile, on Today
and in the marketing export. So every difference between what was typed and what the profile
holds (the name, the e-mail address, the phone number) is a question with two answers, keep ours
or use the typed one, and nothing is sent for it until it is answered.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy.orm import Session

from cdp.errors import Conflict, InvalidInput
from cdp.identity.identifiers import Identifier, normalise_email, normalise_phone
from cdp.identity.repository import owners_of
from cdp.profiles import repository as profiles_repo
from cdp.profiles.service import display_name

Field = Literal["name", "email", "phone"]
FIELDS: tuple[Field, ...] = ("name", "email", "phone")
FIELD_LABELS: dict[Field, str] = {
    "name": "name",
    "email": "e-mail address",
    "phone": "phone number",
}
Choice = Literal["ours", "typed"]


@dataclass(frozen=True, slots=True)
class Typed:
    """The customer as typed on the tablet (stripped, not yet normalised)."""

    first_name: str
    last_name: str
    email: str
    phone: str

    @property
    def name(self) -> str:
        return " ".join(part for part in (self.first_name, self.last_name) if part)


@dataclass(frozen=True, slots=True)
class Difference:
    field: Field
    ours: str  # what the profile holds, as shown
    typed: str  # what was typed, as shown


@dataclass(frozen=True, slots=True)
class Answer:
    """An answer holds for the question it was given to: what it showed as ours and as typed.
    Once either changed (the profile, or a field edited after the question), it is none, so a
    choice can never apply to a value the salesperson did not see."""

    choice: Choice
    ours_shown: str
    typed_shown: str


@dataclass(frozen=True, slots=True)
class KnownCustomer:
    profile_id: uuid.UUID
    name: str | None
    differences: tuple[Difference, ...]


class IdentityQuestion(Conflict):
    """What was typed differs from what the profile holds: the salesperson must say which is
    right before anything is sent."""

    def __init__(self, known: KnownCustomer, *, unanswered: tuple[Field, ...]) -> None:
        names = ", ".join(FIELD_LABELS[f] for f in unanswered)
        super().__init__(f"We already know this customer, with another {names}: which is right?")
        self.known = known
        self.unanswered = unanswered


def _held(session: Session, profile_id: uuid.UUID) -> dict[str, Any]:
    return {t.name: t.value for t in profiles_repo.traits(session, [profile_id])}


def find_known(session: Session, typed: Typed, *, phone_region: str) -> KnownCustomer | None:
    """The one customer whose e-mail or phone was typed, and how the typed data differs from
    theirs; None for someone new. Two customers (the e-mail one's, the phone another's) is a
    mistake to correct, never a reason to merge them."""
    identifiers = []
    email = normalise_email(typed.email) if typed.email else None
    phone = normalise_phone(typed.phone, phone_region) if typed.phone else None
    if email:
        identifiers.append(Identifier("email", email))
    if phone:
        identifiers.append(Identifier("phone", phone))
    owners = owners_of(session, identifiers)
    profiles = set(owners.values())
    if not profiles:
        return None
    if len(profiles) > 1:
        names = {
            ident.kind: display_name(_held(session, pid)) or "another customer"
            for ident, pid in owners.items()
        }
        raise InvalidInput(
            f"The e-mail address is {names['email']}'s and the phone number "
            f"{names['phone']}'s: two customers. Check both, or find the customer by name.",
            field="phone",
        )
    [profile_id] = profiles
    held = _held(session, profile_id)
    ours_name = display_name(held)
    differences = []
    if typed.name and ours_name and typed.name != ours_name:
        differences.append(Difference("name", ours_name, typed.name))
    ours_email = held.get("email") if isinstance(held.get("email"), str) else None
    if email and ours_email and normalise_email(ours_email) != email:
        differences.append(Difference("email", ours_email, email))
    ours_phone = held.get("phone") if isinstance(held.get("phone"), str) else None
    if phone and ours_phone and normalise_phone(ours_phone, phone_region) != phone:
        differences.append(Difference("phone", ours_phone, phone))
    return KnownCustomer(profile_id, ours_name, tuple(differences))


def agreed_traits(
    known: KnownCustomer, typed: Typed, answers: dict[Field, Answer]
) -> dict[str, Any]:
    """The identify traits a known customer's typed data may set: what we did not hold yet, and
    what the salesperson chose over ours. Raises IdentityQuestion while a difference has no
    answer to the question as it stands now."""
    unanswered = tuple(
        d.field
        for d in known.differences
        if (answer := answers.get(d.field)) is None
        or (answer.ours_shown, answer.typed_shown) != (d.ours, d.typed)
    )
    if unanswered:
        raise IdentityQuestion(known, unanswered=unanswered)
    differing = {d.field for d in known.differences}
    use = {field: field not in differing or answers[field].choice == "typed" for field in FIELDS}
    traits: dict[str, Any] = {}
    if typed.name and use["name"] and (not known.name or "name" in differing):
        # Both parts, a blank one too: the name becomes exactly what was typed.
        traits["firstName"] = typed.first_name
        traits["lastName"] = typed.last_name
    if typed.email and use["email"]:
        traits["email"] = typed.email
    if typed.phone and use["phone"]:
        traits["phone"] = typed.phone
    return traits
