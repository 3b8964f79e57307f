"""The search projection (profile_search), rebuilt for profiles whose searchable facts changed."""

from __future__ import annotations

import uuid
from collections.abc import Collection
from typing import Any

from sqlalchemy import and_, delete, func, insert, select
from sqlalchemy.orm import Session

from cdp.identity.repository import among
from cdp.models import Configuration, Lead, Profile, ProfileSearch, ProfileTrait
from cdp.text import fold, postal_code

SEARCH_TRAITS = frozenset(
    {"first_name", "last_name", "name", "email", "phone", "postal_code", "city"}
)


def _display_name(traits: dict[str, Any]) -> str | None:
    parts = [
        str(traits[key]).strip()
        for key in ("first_name", "last_name")
        if isinstance(traits.get(key), str) and str(traits[key]).strip()
    ]
    if parts:
        return " ".join(parts)
    name = traits.get("name")
    return name.strip() if isinstance(name, str) and name.strip() else None


def _text(value: Any, limit: int) -> str | None:
    return (
        str(value).strip()[:limit] if isinstance(value, (str, int)) and str(value).strip() else None
    )


def refresh_search(session: Session, profile_ids: Collection[uuid.UUID]) -> None:
    """Rewrite the search rows of these profiles (absorbed or anonymous ones get none)."""
    ids = list(set(profile_ids))
    if not ids:
        return
    live: set[uuid.UUID] = set()
    traits: dict[uuid.UUID, dict[str, Any]] = {}
    for pid, name, value in session.execute(
        select(Profile.id, ProfileTrait.name, ProfileTrait.value)
        .outerjoin(
            ProfileTrait,
            and_(
                ProfileTrait.profile_id == Profile.id,
                among(session, ProfileTrait.name, sorted(SEARCH_TRAITS)),
            ),
        )
        .where(among(session, Profile.id, ids), Profile.merged_into_id.is_(None))
    ):
        live.add(pid)
        if name is not None:
            traits.setdefault(pid, {})[name] = value
    # Only live profiles with search traits have a row (a merge takes the absorbed profile's
    # traits away), so what may need deleting is the rows of absorbed profiles and the rows
    # about to be rewritten: nothing for a live anonymous profile that saved a configuration.
    stale = [pid for pid in ids if pid not in live or pid in traits]
    if stale:
        session.execute(
            delete(ProfileSearch).where(among(session, ProfileSearch.profile_id, stale))
        )
    if not traits:
        return
    with_traits = list(traits)
    latest = (
        select(Configuration.profile_id, func.max(Configuration.saved_at).label("saved_at"))
        .where(among(session, Configuration.profile_id, with_traits))
        .group_by(Configuration.profile_id)
        .subquery()
    )
    configs = {
        pid: (model, colour, hex_)
        for pid, model, colour, hex_ in session.execute(
            select(
                Configuration.profile_id,
                Configuration.model,
                Configuration.colour,
                Configuration.colour_hex,
            ).join(
                latest,
                and_(
                    latest.c.profile_id == Configuration.profile_id,
                    latest.c.saved_at == Configuration.saved_at,
                ),
            )
        )
    }
    stages: dict[uuid.UUID, str] = {}
    for pid, stage in session.execute(
        select(Lead.profile_id, Lead.stage)
        .where(among(session, Lead.profile_id, with_traits))
        .order_by(Lead.updated_at, Lead.id)
    ):
        stages[pid] = stage  # the most recently updated lead wins
    rows = []
    for pid, t in traits.items():
        name = _display_name(t)
        model, colour, hex_ = configs.get(pid, (None, None, None))
        rows.append(
            {
                "profile_id": pid,
                "name": name[:200] if name else None,
                "name_folded": fold(name)[:200] if name else None,
                "email": _text(t.get("email"), 320),
                "phone": _text(t.get("phone"), 32),
                "postal_code": postal_code(str(t["postal_code"]))
                if _text(t.get("postal_code"), 20)
                else None,
                "city": _text(t.get("city"), 100),
                "latest_model": model,
                "latest_colour": colour,
                "latest_colour_hex": hex_,
                "lead_stage": stages.get(pid),
            }
        )
    session.execute(insert(ProfileSearch), rows)
