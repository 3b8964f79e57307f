"""The demo's campaigns: what brought its leads, as utm fields on their first and last touch.

One list, so whatever else the demo makes of campaigns (their spend per month) uses the same
names. A campaign runs in some months of the year (all, when none are named); seasonal ones carry
the year in their name ("spring-launch-2026"), as marketers name them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True, slots=True)
class DemoCampaign:
    name: str  # "{year}" is replaced by the year it runs in
    source: str  # utm_source
    medium: str  # utm_medium
    channel: str  # the lead channel its leads come in through (cdp.models.LEAD_CHANNELS)
    months: tuple[int, ...] = ()  # 1-12; empty: all year
    weight: float = 1.0  # its share among the campaigns of its channel that run in a month
    referrer: str | None = None  # the site a click on it comes from

    def runs_in(self, day: date) -> bool:
        return not self.months or day.month in self.months

    def name_in(self, day: date) -> str:
        return self.name.replace("{year}", str(day.year))

    def touch(self, day: date) -> dict[str, str]:
        """The touch a lead of `day` carries (cdp/leads/attribution.py's keys)."""
        found = {"source": self.source, "medium": self.medium, "name": self.name_in(day)}
        if self.referrer:
            found["referrer"] = self.referrer
        return found


DEMO_CAMPAIGNS = (
    DemoCampaign("spring-launch-{year}", "google", "cpc", "website", (3, 4, 5), 3.0),
    DemoCampaign("ev-weeks", "meta", "paid_social", "website", (5, 6, 9, 10), 2.0),
    DemoCampaign("private-lease-autumn-{year}", "newsletter", "email", "website", (9, 10, 11)),
    DemoCampaign("year-end-stock", "google", "cpc", "website", (11, 12), 1.5),
    DemoCampaign("brand-search", "google", "cpc", "website", (), 1.5),
    DemoCampaign("dealer-local-search", "google", "cpc", "dealer_website", (), 2.0),
    DemoCampaign("dealer-facebook", "facebook", "paid_social", "dealer_website", (3, 4, 5, 9, 10)),
    DemoCampaign("importer-test-drive-days", "importer", "email", "importer", (3, 4, 9, 10)),
    DemoCampaign("importer-fleet-offer", "importer", "display", "importer", (), 1.0),
    DemoCampaign(
        "marktplaats-listings",
        "marktplaats",
        "listing",
        "marketplace",
        (),
        3.0,
        "www.marktplaats.nl",
    ),
    DemoCampaign(
        "autotrack-listings", "autotrack", "listing", "marketplace", (), 1.5, "www.autotrack.nl"
    ),
    DemoCampaign(
        "autoscout24-listings",
        "autoscout24",
        "listing",
        "marketplace",
        (),
        1.5,
        "www.autoscout24.be",
    ),
    DemoCampaign(
        "2dehands-listings", "2dehands", "listing", "marketplace", (), 1.0, "www.2dehands.be"
    ),
    DemoCampaign("service-reactivation", "mailing", "direct_mail", "direct_mail"),
    DemoCampaign("open-house-weekend", "showroom", "event", "event", (3, 10)),
    DemoCampaign("autosalon-brussels", "autosalon", "event", "event", (1, 2)),
)
