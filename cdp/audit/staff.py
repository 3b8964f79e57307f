"""Staff account changes in the audit trail (action "staff"): who invited whom, changed whose
role or dealers, deactivated or reactivated whom, and issued a new invitation link; in words fit
for the trail ("sales2@demo.example: role sales → admin").

The record names the admin (actor, staff_user_id) and, in its detail, the account changed by its
e-mail address: a colleague's work address, never a customer's. Written in the change's own
transaction, as every audit record (cdp/audit/service.py).
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy.orm import Session

from cdp.audit.service import record

AUDIT_ACTION = "staff"


def dealers_text(codes: Sequence[str]) -> str:
    """["NW-EHV", "NW-GNT"] -> "NW-EHV, NW-GNT"; none: "no dealer" (the whole network for a
    manager or admin, nowhere yet for floor staff)."""
    return ", ".join(codes) if codes else "no dealer"


def note(session: Session, *, actor: str, by: int | None, target: str, what: str) -> None:
    """One change to the account with e-mail address `target`."""
    record(session, AUDIT_ACTION, actor=actor, staff_user_id=by, detail=f"{target}: {what}")


def note_invited(
    session: Session, *, actor: str, by: int | None, target: str, role: str, codes: Sequence[str]
) -> None:
    note(
        session,
        actor=actor,
        by=by,
        target=target,
        what=f"invited as {role} at {dealers_text(codes)}",
    )


def note_role(
    session: Session,
    *,
    actor: str,
    by: int | None,
    target: str,
    before: str,
    after: str,
    codes_before: Sequence[str],
    codes_after: Sequence[str],
    leads: str = "",
) -> None:
    what = f"role {before} → {after}"
    if list(codes_before) != list(codes_after):
        what += f"; dealers {dealers_text(codes_before)} → {dealers_text(codes_after)}"
    note(session, actor=actor, by=by, target=target, what=_with_leads(what, leads))


def note_dealers(
    session: Session,
    *,
    actor: str,
    by: int | None,
    target: str,
    before: Sequence[str],
    after: Sequence[str],
    leads: str = "",
) -> None:
    what = f"dealers {dealers_text(before)} → {dealers_text(after)}"
    note(session, actor=actor, by=by, target=target, what=_with_leads(what, leads))


def _with_leads(what: str, leads: str) -> str:
    """The change, and what became of the open leads it took from them (if any)."""
    return f"{what}; {leads}" if leads else what
