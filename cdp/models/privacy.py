"""Records kept about data-protection requests themselves."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from cdp.models.base import Base, JsonType, UtcDateTime, utcnow


class Erasure(Base):
    """A person erased on request (GDPR art. 17): when, by whom, why, and how many rows went.

    No personal data: the profile id is a random identifier that, with everything else gone,
    links to nobody; it lets an old link to the customer page say what happened.
    """

    __tablename__ = "erasure"

    id: Mapped[int] = mapped_column(primary_key=True)
    profile_id: Mapped[uuid.UUID] = mapped_column(Uuid, index=True)  # no foreign key: it is gone
    erased_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    erased_by: Mapped[str] = mapped_column(String(320))
    reason: Mapped[str] = mapped_column(Text)
    counts: Mapped[dict[str, Any]] = mapped_column(JsonType, default=dict)
