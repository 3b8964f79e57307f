"""The audit trail: who did what to which profile, and every sign-in."""

import uuid
from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, BigIntPK, UtcDateTime, utcnow

AUDIT_ACTIONS = (
    "view",  # a customer page opened
    "api_read",  # a profile read through the API
    "export",  # a CSV of contacts downloaded
    "subject_access",  # a copy of everything about a person (GDPR art. 15)
    "erasure",  # a person erased (GDPR art. 17)
    "lead_edit",  # a lead created, moved, assigned or contacted
    "note",  # a note written on a customer
    "consent",  # consent granted or withdrawn by staff on the customer page
    "sign_in",
    "sign_in_failed",
    "norms",  # a channel's name, whether lead forms offer it, or a norm changed (no profile)
    "spend",  # spend entered, changed, deleted or imported; a margin per sale set (no profile)
    "plan",  # a sales plan saved or deleted (no profile)
    "staff",  # a staff account invited, its role, dealers or status changed (no profile)
    "dealer",  # a dealer added, changed, deactivated, reactivated or imported (no profile)
)


class AuditRecord(Base):
    """One action, kept after the person it was about is erased: the profile id is a random
    identifier that, once erasure has deleted everything else, links to nobody. No name,
    e-mail address or phone number of a customer is ever written here."""

    __tablename__ = "audit_record"
    __table_args__ = (
        Index("ix_audit_record_profile_at", "profile_id", "at"),
        Index("ix_audit_record_user_at", "staff_user_id", "at"),
    )

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, index=True)
    action: Mapped[str] = mapped_column(String(20))
    staff_user_id: Mapped[int | None] = mapped_column(ForeignKey("staff_user.id"), default=None)
    api_token_id: Mapped[int | None] = mapped_column(ForeignKey("api_token.id"), default=None)
    # Who, as shown: a staff e-mail address, "API token NAME", or what the command line was given.
    actor: Mapped[str] = mapped_column(String(320))
    profile_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, default=None)  # no foreign key
    detail: Mapped[str] = mapped_column(String(300), default="")
