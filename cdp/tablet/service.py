"""The showroom tablet session: a salesperson and a customer configure a car together.

A session identifies its customer explicitly (found by lookup, or created with their consent) and
gets a fresh anonymous id of its own, so a shared tablet never mixes one customer's choices into
the next one's profile (docs/identity.md, rule 7). Every choice goes through the real ingest path
as the same Segment messages the brand's configurator sends, from a source of kind `showroom`, so
online and showroom behaviour end on one profile.

Functions take a session and flush; the request commits.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from cdp import catalogue
from cdp.auth.permissions import Permission, allows
from cdp.auth.service import SourceInfo, create_source
from cdp.dealers.service import acting_dealer_id
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.errors import Conflict, Forbidden, InvalidInput, NotFound
from cdp.identity.identifiers import Identifier, normalise_email, normalise_phone
from cdp.identity.service import attach_identifier
from cdp.ids import MAX_ROW_ID
from cdp.ingestion.service import ingest
from cdp.leads.notes import add_note
from cdp.leads.repository import open_leads_by_profile
from cdp.leads.service import create_lead
from cdp.models import (
    Note,
    ProfileSearch,
    Source,
    StaffUser,
    TabletSession,
)
from cdp.profiles.repository import live_profile
from cdp.tablet import identity

TABLET_SOURCE = "Showroom tablets"
ENDPOINT = "showroom tablet"
_MAX_NAME = 100
_MAX_EMAIL = 320

# What the customer reads on the screen before ticking a box; stored word for word with the
# consent, so we can show later what exactly someone agreed to.
CONSENT_WORDING: dict[str, str] = {
    "email": (
        f"Yes, {catalogue.BRAND} and this dealer may e-mail me offers and news about the car "
        "I configured."
    ),
    "phone": (
        f"Yes, {catalogue.BRAND} and this dealer may call me or send me text messages about "
        "the car I configured."
    ),
    "tracking": (
        "Yes, my choices in the configurator may be kept in my customer profile, so that advice "
        "and offers fit what I am looking for."
    ),
}
CONSENT_PURPOSES = tuple(CONSENT_WORDING)


@dataclass(frozen=True, slots=True)
class NewCustomer:
    first_name: str
    last_name: str
    email: str
    phone: str
    consents: frozenset[str]  # the purposes whose box was ticked


# --- the session ------------------------------------------------------------------------------
def tablet_source(session: Session) -> SourceInfo:
    """The built-in source every tablet event is recorded under (made on first use)."""
    source = session.scalar(select(Source).where(Source.name == TABLET_SOURCE))
    if source is None:
        try:
            with session.begin_nested():
                source, _key = create_source(
                    session, name=TABLET_SOURCE, kind="showroom", origins=[]
                )
        except (IntegrityError, Conflict):  # another tablet made it at the same moment
            source = session.scalar(select(Source).where(Source.name == TABLET_SOURCE))
            if source is None:
                raise
    if source.kind != "showroom":
        raise Conflict(f"the source {TABLET_SOURCE!r} exists but is not a showroom source")
    return SourceInfo(id=source.id, name=source.name, kind=source.kind, origins=())


def start_session(session: Session, *, user_id: int, now: datetime) -> TabletSession:
    """A new session with a fresh anonymous id: nothing of an earlier customer carries over.

    A session of theirs still untouched (no customer, nothing chosen: a Start tapped before)
    is started again instead, so taps on Start leave no pile of empty open sessions."""
    untouched = next(
        (
            t
            for t in open_sessions(session, user_id=user_id)
            if t.profile_id is None and t.selection == {"step": "model"}
        ),
        None,
    )
    dealer_id = acting_dealer_id(session, user_id)
    if untouched is not None:
        untouched.started_at = now
        untouched.dealer_id = dealer_id
        session.flush()
        return untouched
    source = tablet_source(session)
    tablet = TabletSession(
        dealer_id=dealer_id,
        user_id=user_id,
        anonymous_id=str(uuid.uuid4()),
        source_id=source.id,
        selection={"step": "model"},
        started_at=now,
    )
    session.add(tablet)
    session.flush()
    return tablet


def get_session(
    session: Session,
    session_id: int,
    *,
    user_id: int,
    for_change: bool = False,
    scope: DealerScope = NETWORK,
) -> TabletSession:
    """The session, if it is this salesperson's; `for_change` also refuses an ended one.
    Another dealer's session is answered as unknown."""
    tablet = session.get(TabletSession, session_id) if 0 < session_id <= MAX_ROW_ID else None
    if tablet is None or not scope.sees(tablet.dealer_id):
        raise NotFound("There is no tablet session with this link.")
    if tablet.user_id != user_id:
        raise Forbidden(
            "This tablet session belongs to another salesperson. Start a session of your own."
        )
    if for_change and tablet.ended_at is not None:
        raise Conflict(
            "This tablet session has ended, so it can no longer be changed. "
            "Start a new session for the next customer."
        )
    return tablet


def open_sessions(session: Session, *, user_id: int) -> Sequence[TabletSession]:
    return session.scalars(
        select(TabletSession)
        .where(TabletSession.user_id == user_id, TabletSession.ended_at.is_(None))
        .order_by(TabletSession.started_at.desc())
    ).all()


def end_session(session: Session, tablet: TabletSession, *, now: datetime) -> None:
    if tablet.ended_at is None:
        tablet.ended_at = now
        session.flush()


@dataclass(frozen=True, slots=True)
class NoteInput:
    """What the salesperson learned, as the end-of-session form collects it."""

    interest_level: str | None = None
    budget_band: str | None = None
    timeframe: str | None = None
    trade_in_make: str | None = None
    trade_in_model: str | None = None
    trade_in_year: int | None = None
    trade_in_km: int | None = None
    licence_plate: str | None = None
    financing_interest: bool | None = None
    competitor: str | None = None
    model_direction: str | None = None
    text: str | None = None


def finish_with_note(
    session: Session, tablet: TabletSession, note: NoteInput, *, user_id: int, now: datetime
) -> Note:
    """Store the structured note on the customer (its fields become traits marketing can use)
    and end the session."""
    require_customer(tablet)
    profile_id = live_profile_id(session, tablet)
    assert profile_id is not None
    stored = add_note(
        session,
        profile_id=profile_id,
        user_id=user_id,
        interest_level=note.interest_level,
        budget_band=note.budget_band,
        timeframe=note.timeframe,
        trade_in_make=note.trade_in_make,
        trade_in_model=note.trade_in_model,
        trade_in_year=note.trade_in_year,
        trade_in_km=note.trade_in_km,
        licence_plate=note.licence_plate,
        financing_interest=note.financing_interest,
        competitor=note.competitor,
        model_direction=note.model_direction,
        text=note.text,
        tablet_session_id=tablet.id,
        now=now,
    )
    here = NETWORK if tablet.dealer_id is None else DealerScope(frozenset({tablet.dealer_id}))
    # An open lead at another dealer does not stop this showroom's own walk-in lead.
    if note.interest_level in LEAD_WORTHY and not open_leads_by_profile(
        session, {profile_id}, here
    ):
        # A warm walk-in is a lead: it belongs in someone's follow-up list and the funnel.
        user = session.get(StaffUser, user_id)
        works_leads = user is not None and allows(user.role, Permission.LEADS)
        model = tablet.selection.get("model")
        # A salesperson keeps the customer they served; reception's walk-in is routed within
        # the showroom's dealer, as any other lead (cdp/leads/routing.py).
        create_lead(
            session,
            profile_id=profile_id,
            channel="walk_in",
            created_by_user_id=user_id,
            model=_model_name(model) if isinstance(model, str) else None,
            assigned_user_id=user_id if works_leads else None,
            route=not works_leads,
            dealer_id=tablet.dealer_id,
            assignment_rule="walk_in_host",
            now=now,
        )
    tablet.selection = {**tablet.selection, "noted": True}
    end_session(session, tablet, now=now)
    return stored


LEAD_WORTHY = ("hot", "warm")


def _model_name(code: str) -> str | None:
    try:
        return catalogue.model_by_code(code).name
    except KeyError:  # a code no longer in the catalogue
        return None


def customer_label(session: Session, profile_id: uuid.UUID | None) -> str | None:
    """The customer's name as the lookup shows it (else their e-mail or phone)."""
    if profile_id is None:
        return None
    profile = live_profile(session, profile_id)
    if profile is None:
        return None
    row = session.get(ProfileSearch, profile.id)
    if row is None:
        return "Anonymous visitor"
    return row.name or row.email or row.phone or "Anonymous visitor"


def live_profile_id(session: Session, tablet: TabletSession) -> uuid.UUID | None:
    """The session's customer as they are now (a later merge may have absorbed the profile)."""
    if tablet.profile_id is None:
        return None
    profile = live_profile(session, tablet.profile_id)
    return profile.id if profile is not None else tablet.profile_id


# --- sending ----------------------------------------------------------------------------------
def send(
    session: Session,
    tablet: TabletSession,
    messages: list[dict[str, Any]],
    *,
    now: datetime,
    phone_region: str,
) -> uuid.UUID:
    """Record messages as the session's anonymous visitor; returns the profile they landed on."""
    row = session.get(Source, tablet.source_id) if tablet.source_id is not None else None
    source = (
        SourceInfo(id=row.id, name=row.name, kind=row.kind, origins=())
        if row is not None and row.kind == "showroom"
        else tablet_source(session)
    )
    context = {
        "app": {"name": "CDP showroom tablet"},
        "device": {"type": "tablet"},
        "library": {"name": "cdp-showroom-tablet"},
        "tablet_session_id": tablet.id,
    }
    raw = [
        {
            **message,
            "messageId": str(uuid.uuid4()),
            "anonymousId": tablet.anonymous_id,
            # A millisecond apart, so the timeline keeps the order the choices were made in.
            "timestamp": (now + timedelta(milliseconds=index)).isoformat(),
            "context": context,
        }
        for index, message in enumerate(messages)
    ]
    result = ingest(
        session,
        raw,
        source=source,
        endpoint=ENDPOINT,
        received_at=now,
        phone_region=phone_region,
        check_size=False,
    )
    if result.rejected:
        first = result.rejected[0]
        where = f"{first.field}: " if first.field else ""
        raise InvalidInput(f"The choice could not be recorded ({where}{first.reason}).")
    if result.suppressed and not result.profile_ids:
        raise InvalidInput(
            "This customer's data was erased at their request: record them again only with "
            "their consent (tick what they agree to).",
            field="consent",
        )
    if result.profile_ids:
        tablet.profile_id = result.profile_ids[-1]
    session.flush()
    assert tablet.profile_id is not None
    return tablet.profile_id


# --- the customer -----------------------------------------------------------------------------
def _require_no_customer(tablet: TabletSession) -> None:
    if tablet.profile_id is not None:
        raise Conflict(
            "This session already has its customer. To serve someone else, end it and start a "
            "new session: a session is for one customer only."
        )


def choose_existing_customer(
    session: Session, tablet: TabletSession, *, profile_id: uuid.UUID, now: datetime
) -> uuid.UUID:
    """Bind the session's fresh anonymous id to a customer staff found by lookup."""
    _require_no_customer(tablet)
    profile = live_profile(session, profile_id)
    if profile is None:
        raise NotFound("There is no such customer. Search again.")
    attach_identifier(
        session,
        profile_id=profile.id,
        identifier=Identifier("anonymous_id", tablet.anonymous_id),
        source_id=tablet.source_id,
        now=now,
    )
    tablet.profile_id = profile.id
    tablet.selection = {**tablet.selection, "customer": "existing"}
    session.flush()
    return profile.id


def check_new_customer(customer: NewCustomer, *, phone_region: str) -> dict[str, str]:
    """What is wrong with the form, per field (empty when it can be sent)."""
    problems: dict[str, str] = {}
    if not customer.first_name and not customer.last_name:
        problems["first_name"] = "Enter the customer's name."
    for name, value in (("first_name", customer.first_name), ("last_name", customer.last_name)):
        if len(value) > _MAX_NAME:
            problems[name] = f"A name can be at most {_MAX_NAME} characters."
    if customer.email and (len(customer.email) > _MAX_EMAIL or not normalise_email(customer.email)):
        problems["email"] = f"{customer.email[:60]!r} is not an e-mail address."
    if customer.phone and not normalise_phone(customer.phone, phone_region):
        problems["phone"] = f"{customer.phone[:40]!r} is not a phone number."
    if not customer.email and not customer.phone:
        problems["email"] = "Enter an e-mail address or a phone number, so we can find them again."
    if "email" in customer.consents and not customer.email:
        problems["consent_email"] = "E-mail consent needs an e-mail address."
    if "phone" in customer.consents and not customer.phone:
        problems["consent_phone"] = "Phone consent needs a phone number."
    unknown = set(customer.consents) - set(CONSENT_PURPOSES)
    if unknown:
        problems["consent"] = f"Unknown consent {sorted(unknown)[0]!r}."
    return problems


def create_customer(
    session: Session,
    tablet: TabletSession,
    customer: NewCustomer,
    *,
    answers: dict[identity.Field, identity.Answer] | None = None,
    asked_about: uuid.UUID | None = None,
    now: datetime,
    phone_region: str,
) -> uuid.UUID:
    """Identify the session's visitor with what the customer told us, and the consent they gave
    in the words shown on the screen. An e-mail address or phone number that is already known
    lands the session on that customer's profile (one person, one profile), and what was typed
    replaces nothing of theirs unless `answers` say so: IdentityQuestion until they do.

    `asked_about`: the customer a question was asked about. If what is typed now finds someone
    else, or nobody (the e-mail edited after the question), nothing is stored: the salesperson is
    told, and adds the customer again knowingly."""
    _require_no_customer(tablet)
    problems = check_new_customer(customer, phone_region=phone_region)
    if problems:
        raise InvalidInput(next(iter(problems.values())), field=next(iter(problems)))
    typed = identity.Typed(
        first_name=customer.first_name,
        last_name=customer.last_name,
        email=customer.email,
        phone=customer.phone,
    )
    known = identity.find_known(session, typed, phone_region=phone_region)
    if asked_about is not None and (known is None or known.profile_id != asked_about):
        raise InvalidInput(
            "The e-mail address or phone number changed since you were asked: they no longer "
            "belong to the customer asked about. Check them, then add the customer again.",
            field="email",
        )
    traits: dict[str, Any]
    if known is None:
        traits = {
            key: value
            for key, value in (
                ("firstName", customer.first_name),
                ("lastName", customer.last_name),
                ("email", customer.email),
                ("phone", customer.phone),
            )
            if value
        }
    else:
        traits = identity.agreed_traits(known, typed, answers or {})
        # Bound explicitly, as when found by lookup: the identify below then carries only what
        # may change, and no typed identifier has to lead it to the profile.
        attach_identifier(
            session,
            profile_id=known.profile_id,
            identifier=Identifier("anonymous_id", tablet.anonymous_id),
            source_id=tablet.source_id,
            now=now,
        )
        tablet.profile_id = known.profile_id
        # An e-mail or phone new to us that staff chose is theirs too: bound the same way, so
        # the identify names no stranger to the tablet's safety net (identity rule 7).
        for kind, normalise in (
            ("email", normalise_email),
            ("phone", lambda raw: normalise_phone(raw, phone_region)),
        ):
            value = normalise(traits[kind]) if traits.get(kind) else None
            if value:
                attach_identifier(
                    session,
                    profile_id=known.profile_id,
                    identifier=Identifier(kind, value),
                    source_id=tablet.source_id,
                    now=now,
                )
    consent = {
        purpose: {"status": "granted", "wording": CONSENT_WORDING[purpose]}
        for purpose in CONSENT_PURPOSES
        if purpose in customer.consents
    }
    if consent:
        traits["consent"] = consent
    if traits:
        send(
            session,
            tablet,
            [{"type": "identify", "traits": traits}],
            now=now,
            phone_region=phone_region,
        )
    tablet.selection = {**tablet.selection, "customer": "new" if known is None else "known"}
    session.flush()
    assert tablet.profile_id is not None
    return tablet.profile_id


def require_customer(tablet: TabletSession) -> None:
    if tablet.profile_id is None:
        raise Conflict("Find the customer or add them first: a session is always for someone.")
