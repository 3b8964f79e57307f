"""Importing ADF leads: each prospect checked, recognised when it is a resend, and stored through
the collection API's ingest (identity rules, suppression, lead hooks and routing as for any
track); a document that cannot be a lead is refused with the reason and kept raw in the
quarantine, so nothing is lost silently."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from cdp.adf import repository
from cdp.adf.messages import lead_key, to_messages
from cdp.adf.parse import AdfCustomer, AdfLead, NotAdf, extract_documents, parse
from cdp.auth.service import SourceInfo
from cdp.identity.identifiers import normalise_email, normalise_phone
from cdp.identity.rules import DEFAULT_RULES, IdentityRules
from cdp.ingestion.repository import quarantine
from cdp.ingestion.service import ingest

ENDPOINT = "leads/adf"
# The same person asking about the same car again within this time is the same lead.
RESEND_WINDOW = timedelta(days=7)


@dataclass(frozen=True, slots=True)
class ProspectOutcome:
    status: str  # created (a lead or an update stored), duplicate (a resend), refused
    name: str | None = None
    profile_id: uuid.UUID | None = None
    reason: str | None = None


def _usable_contact(customer: AdfCustomer, phone_region: str) -> AdfCustomer:
    """The customer with only the addresses and numbers that can be normalised: a malformed
    one is dropped rather than refusing the lead, unless none is left."""
    emails = tuple(e for e in customer.emails if normalise_email(e))
    phones = tuple(p for p in customer.phones if normalise_phone(p.number, phone_region))
    if not emails and not phones:
        raise NotAdf("the customer has no e-mail address or phone number that can be used")
    return replace(customer, emails=emails, phones=phones)


def _is_recent_resend(
    session: Session, lead: AdfLead, phone_region: str, received_at: datetime
) -> bool:
    wanted = lead.wanted
    if wanted is None or not wanted.model:
        return False
    emails = [value for e in lead.customer.emails if (value := normalise_email(e))]
    phones = [
        value for p in lead.customer.phones if (value := normalise_phone(p.number, phone_region))
    ]
    model = " ".join(p for p in (wanted.make, wanted.model) if p)
    since = (lead.request_date or received_at) - RESEND_WINDOW
    return repository.recent_lead_exists(
        session, emails=emails, phones=phones, model=model[:200], since=since
    )


def import_document(
    session: Session,
    raw: bytes,
    *,
    source: SourceInfo,
    received_at: datetime,
    phone_region: str,
    rules: IdentityRules = DEFAULT_RULES,
) -> list[ProspectOutcome]:
    """One body (XML, or text holding ADF documents): an outcome per prospect. Flushes; the
    caller commits."""
    documents = extract_documents(raw) or [raw]
    outcomes: list[ProspectOutcome] = []
    for document in documents:
        try:
            leads = parse(document)
        except NotAdf as error:
            _keep_refused(session, document, str(error), source=source, received_at=received_at)
            outcomes.append(ProspectOutcome("refused", reason=str(error)))
            continue
        for lead in leads:
            outcomes.append(
                _import_lead(
                    session,
                    lead,
                    document,
                    source=source,
                    received_at=received_at,
                    phone_region=phone_region,
                    rules=rules,
                )
            )
    return outcomes


def _import_lead(
    session: Session,
    lead: AdfLead,
    document: bytes,
    *,
    source: SourceInfo,
    received_at: datetime,
    phone_region: str,
    rules: IdentityRules,
) -> ProspectOutcome:
    name = lead.customer.name
    try:
        lead = replace(lead, customer=_usable_contact(lead.customer, phone_region))
    except NotAdf as error:
        _keep_refused(session, document, str(error), source=source, received_at=received_at)
        return ProspectOutcome("refused", name=name, reason=str(error))
    messages = to_messages(lead, received_at=received_at.isoformat())
    if repository.stored_message(session, source.id, messages[-1]["messageId"]):
        return ProspectOutcome("duplicate", name=name)
    if _is_recent_resend(session, lead, phone_region, received_at):
        return ProspectOutcome("duplicate", name=name)
    result = ingest(
        session,
        messages,
        source=source,
        endpoint="batch",
        received_at=received_at,
        phone_region=phone_region,
        check_size=False,
        rules=rules,
    )
    if result.rejected:
        first = result.rejected[0]
        reason = f"{first.field}: {first.reason}" if first.field else first.reason
        return ProspectOutcome("refused", name=name, reason=reason)
    if result.duplicates == len(messages):
        return ProspectOutcome("duplicate", name=name)
    profile = result.profile_ids[-1] if result.profile_ids else None
    return ProspectOutcome("created", name=name, profile_id=profile)


def _keep_refused(
    session: Session, document: bytes, reason: str, *, source: SourceInfo, received_at: datetime
) -> None:
    """Kept once per source and document, like a refused message retried by its client."""
    digest = hashlib.sha256(document).hexdigest()[:40]
    message_id = f"adf-document-{digest}"
    if repository.quarantined(session, source.id, message_id):
        return
    quarantine(
        session,
        [
            {
                "source_id": source.id,
                "received_at": received_at,
                "endpoint": ENDPOINT,
                "batch_index": None,
                "reason": f"ADF: {reason}",
                "raw": document.decode("utf-8", errors="replace").replace("\x00", ""),
                "message_id": message_id,
            }
        ],
    )


__all__ = ["ENDPOINT", "ProspectOutcome", "import_document", "lead_key"]
