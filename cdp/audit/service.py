"""Writing the audit trail: one function every audited action calls (docs/privacy.md, "Audit").

The record joins the action's own transaction: an action rolled back leaves no record, and a
record is never missing for an action that happened.
"""

from __future__ import annotations

import uuid

from sqlalchemy.orm import Session

from cdp.models import AUDIT_ACTIONS, AuditRecord, utcnow


def record(
    session: Session,
    action: str,
    *,
    actor: str,
    profile_id: uuid.UUID | None = None,
    staff_user_id: int | None = None,
    api_token_id: int | None = None,
    detail: str = "",
) -> None:
    """Add one audit record. `detail` must hold no personal data of a customer (a count, a
    stage, a channel): the record outlives the person's erasure."""
    if action not in AUDIT_ACTIONS:  # a programming error, not bad input
        raise ValueError(f"unknown audit action {action!r}")
    session.add(
        AuditRecord(
            at=utcnow(),
            action=action,
            actor=actor[:320],
            profile_id=profile_id,
            staff_user_id=staff_user_id,
            api_token_id=api_token_id,
            detail=detail[:300],
        )
    )
