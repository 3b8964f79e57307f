"""What an operator may tune in identity resolution and consent recording (Settings), and the
defaults: how many identifiers of a kind one profile may hold, and which consent categories of
Segment's consent context (`context.consent.categoryPreferences`) mean which of our purposes.

docs/identity.md explains both tables for operators.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from cdp.models.profile import CONSENT_PURPOSES

# Segment Unify's "identity limits": at most this many identifiers of a kind on one profile. A
# profile would pass a limit only by mistake: a shared device, a typing error, a merge that
# links two people. One userId (one account is one person; two userIds never merge). Three
# e-mail addresses: a private one, a work one and an old one are one person; a fourth on one
# profile is far more often a family computer or a dealer's shared address (Segment's own
# default of 5 is for many devices and products; ours is one brand's configurator). Three phone
# numbers: mobile, work and a household landline. Anonymous ids and configuration codes have no
# limit: a person uses many browsers and saves many cars.
DEFAULT_IDENTITY_LIMITS: Mapping[str, int] = MappingProxyType(
    {"user_id": 1, "email": 3, "phone": 3}
)
LIMITED_KINDS = tuple(DEFAULT_IDENTITY_LIMITS)

# The consent categories of `context.consent.categoryPreferences` (Segment's consent wrappers
# for OneTrust, Ketch, Usercentrics... send {category: true|false}) that we record, and the
# purpose each one is (tracking, email, phone). Matched regardless of case. A category not in
# the table is not recorded: "advertising" or "functional" consent says nothing about ours.
# Sites whose consent tool names categories by id (OneTrust's "C0002") set their own table.
DEFAULT_CONSENT_CATEGORIES: Mapping[str, str] = MappingProxyType(
    {
        "tracking": "tracking",
        "analytics": "tracking",
        "profiling": "tracking",
        "personalization": "tracking",
        "personalisation": "tracking",
        "email": "email",
        "email_marketing": "email",
        "emailmarketing": "email",
        "marketing_email": "email",
        "phone": "phone",
        "sms": "phone",
        "phone_marketing": "phone",
        "sms_marketing": "phone",
        "phone_and_sms": "phone",
    }
)


def checked_limits(given: Mapping[str, int]) -> dict[str, int]:
    """The limits with the defaults for kinds not given; ValueError says what is wrong."""
    unknown = sorted(set(given) - set(LIMITED_KINDS))
    if unknown:
        raise ValueError(f"{unknown[0]!r} has no limit: give limits for {', '.join(LIMITED_KINDS)}")
    for kind, limit in given.items():
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise ValueError(f"the limit for {kind} must be a whole number of at least 1")
    return {**DEFAULT_IDENTITY_LIMITS, **given}


def checked_consent_categories(given: Mapping[str, str]) -> dict[str, str]:
    """The table with lower-case categories; ValueError names a purpose we do not record."""
    table: dict[str, str] = {}
    for category, purpose in given.items():
        if purpose not in CONSENT_PURPOSES:
            raise ValueError(
                f"category {category!r} maps to {purpose!r}, which is not a purpose: use one "
                f"of {', '.join(CONSENT_PURPOSES)}"
            )
        name = category.strip().lower()
        if not name:
            raise ValueError("a consent category cannot be blank")
        table[name] = purpose
    return table


@dataclass(frozen=True, slots=True)
class IdentityRules:
    """The tunable rules one ingest call applies (from Settings, or the defaults)."""

    limits: Mapping[str, int] = field(default_factory=lambda: DEFAULT_IDENTITY_LIMITS)
    consent_categories: Mapping[str, str] = field(
        default_factory=lambda: DEFAULT_CONSENT_CATEGORIES
    )


DEFAULT_RULES = IdentityRules()
