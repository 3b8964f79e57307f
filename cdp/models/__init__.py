"""All tables, imported here so Alembic and the app see one metadata."""

from cdp.models.access import ROLES, SOURCE_KINDS, ApiToken, Source
from cdp.models.base import Base, utcnow
from cdp.models.event import Configuration, Event, QuarantinedMessage
from cdp.models.profile import (
    CONSENT_PURPOSES,
    CONSENT_STATUSES,
    IDENTITY_KINDS,
    Consent,
    Identity,
    IdentityWarning,
    Profile,
    ProfileMerge,
    ProfileTrait,
)

__all__ = [
    "CONSENT_PURPOSES",
    "CONSENT_STATUSES",
    "IDENTITY_KINDS",
    "ROLES",
    "SOURCE_KINDS",
    "ApiToken",
    "Base",
    "Configuration",
    "Consent",
    "Event",
    "Identity",
    "IdentityWarning",
    "Profile",
    "ProfileMerge",
    "ProfileTrait",
    "QuarantinedMessage",
    "Source",
    "utcnow",
]
