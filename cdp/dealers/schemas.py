"""A dealer as it comes in (command line, CSV file, admin page), before it is checked."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class DealerFields:
    code: str
    name: str
    address: str = ""
    postal_code: str = ""
    city: str = ""
    country: str = "NL"
    phone: str = ""
    time_zone: str = ""
    opening_hours: str = ""
    # The postal-code areas it serves, as typed: "5611, 5612" or "5611 5612".
    postal_areas: str = ""
    active: bool = True
    # Speed to lead, in opening-hours minutes (empty: 30 and 15): first contact within the
    # first; the manager is warned after the second.
    sla_minutes: str = ""
    sla_warning_minutes: str = ""
