"""Generated funnel data for the funnel tests, and the figures it should give computed here in
plain Python over the rows made (never through the page's queries).

Two dealers, two salespeople each, leads over the last eight months in several channels and
campaigns, each with a random way through the stages (dated stage changes), contact attempts,
appointments that showed or not, and floor check-ins.
"""

from __future__ import annotations

import csv
import io
import random
import statistics
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session, sessionmaker

from cdp.models import (
    Appointment,
    ContactAttempt,
    Lead,
    LeadStageChange,
    Profile,
    ShowroomVisit,
    utcnow,
)
from tests.helpers import StaffClient, make_dealer, make_staff, user_id

TZ = ZoneInfo("Europe/Amsterdam")
STEPS = ("reached", "appointment", "show", "test_drive", "quote", "sold")
RANK = {"reached": 1, "appointment": 2, "test_drive": 4, "quote": 5, "sold": 6, "delivered": 6}
CHANNELS = ("website", "phone", "marketplace", "walk_in")
CAMPAIGNS = ("spring", "=HYPERLINK(1)", None)
PATHS = (
    [],
    ["attempted"],
    ["attempted", "reached"],
    ["reached", "appointment"],
    ["reached", "appointment", "test_drive"],
    ["reached", "appointment", "test_drive", "quote"],
    ["reached", "appointment", "test_drive", "quote", "sold"],
    ["reached", "quote", "sold", "delivered"],
    ["reached", "appointment", "lost"],
    ["attempted", "lost"],
    ["invalid"],
    ["duplicate"],
)
LOST = ("price", "bought_elsewhere", None)


@dataclass
class MadeLead:
    id: int
    dealer: str
    channel: str
    seller: int
    created_at: datetime
    first_campaign: str | None
    last_campaign: str | None
    stage: str
    lost_reason: str | None
    changes: list[tuple[str, datetime]] = field(default_factory=list)
    shows: list[datetime] = field(default_factory=list)
    appointments_no_show: list[datetime] = field(default_factory=list)
    attempts: list[tuple[datetime, str]] = field(default_factory=list)

    @property
    def valid(self) -> bool:
        return self.stage not in ("invalid", "duplicate")

    def rank(self) -> int:
        ranks = [RANK.get(self.stage, 0), *(RANK.get(s, 0) for s, _ in self.changes)]
        if self.shows:
            ranks.append(3)
        return max(ranks)

    def first_at(self, step: int) -> datetime | None:
        """When the lead first reached step `step` (1..6) by its history and shows."""
        times = [at for s, at in self.changes if RANK.get(s, 0) >= step]
        if step <= 3:
            times += self.shows
        return min(times) if times else None


@dataclass
class Network:
    dealers: dict[str, int]
    sellers: dict[str, list[int]]  # dealer code -> salespeople ids
    seller_emails: dict[int, str]
    leads: list[MadeLead]


def _profile(session: Session, at: datetime) -> uuid.UUID:
    profile = Profile(first_seen_at=at, last_seen_at=at)
    session.add(profile)
    session.flush()
    return profile.id


def make_network(
    factory: sessionmaker[Session], *, seed: int = 11, per_dealer: int = 45
) -> Network:
    rng = random.Random(seed)
    codes = (f"FA{seed}", f"FB{seed}")
    dealers = {code: make_dealer(factory, code) for code in codes}
    sellers: dict[str, list[int]] = {}
    emails: dict[int, str] = {}
    for code in codes:
        sellers[code] = []
        for _ in range(2):
            email = make_staff(factory, role="sales", dealers=(code,))
            uid = user_id(factory, email)
            sellers[code].append(uid)
            emails[uid] = email
    now = utcnow()
    made: list[MadeLead] = []
    with factory() as session:
        for code in codes:
            for _ in range(per_dealer):
                created = now - timedelta(days=rng.uniform(0.5, 240), minutes=rng.randint(0, 600))
                path = rng.choice(PATHS)
                campaign = rng.choice(CAMPAIGNS)
                first = rng.choice(CAMPAIGNS) if campaign else None
                lost_reason = rng.choice(LOST) if path and path[-1] == "lost" else None
                seller = rng.choice(sellers[code])
                lead = Lead(
                    dealer_id=dealers[code],
                    profile_id=_profile(session, created),
                    channel=rng.choice(CHANNELS),
                    stage=path[-1] if path else "new",
                    lost_reason=lost_reason,
                    assigned_user_id=seller,
                    created_at=created,
                    updated_at=created,
                    first_touch={"name": first} if first else None,
                    last_touch={"name": campaign} if campaign else None,
                )
                session.add(lead)
                session.flush()
                record = MadeLead(
                    lead.id, code, lead.channel, seller, created, first, campaign, lead.stage,
                    lost_reason,
                )  # fmt: skip
                at = created
                session.add(LeadStageChange(lead_id=lead.id, from_stage=None, to_stage="new",
                                            changed_at=created))  # fmt: skip
                previous = "new"
                for stage in path:
                    at = min(at + timedelta(days=rng.uniform(0.01, 25)), now)
                    session.add(
                        LeadStageChange(
                            lead_id=lead.id, from_stage=previous, to_stage=stage, changed_at=at,
                            lost_reason=lost_reason if stage == "lost" else None,
                        )
                    )  # fmt: skip
                    record.changes.append((stage, at))
                    previous = stage
                if "appointment" in path or rng.random() < 0.1:
                    starts = min(created + timedelta(days=rng.uniform(0.5, 20)), now)
                    status = rng.choice(("showed", "no_show", "planned"))
                    session.add(
                        Appointment(
                            dealer_id=dealers[code], profile_id=lead.profile_id, lead_id=lead.id,
                            kind="visit", status=status, starts_at=starts,
                        )
                    )  # fmt: skip
                    if status == "showed":
                        record.shows.append(starts)
                if rng.random() < 0.08:  # checked in on the floor without an appointment
                    arrived = min(created + timedelta(days=rng.uniform(0, 10)), now)
                    session.add(
                        ShowroomVisit(
                            dealer_id=dealers[code], profile_id=lead.profile_id, lead_id=lead.id,
                            kind="be_back", arrived_at=arrived,
                        )
                    )  # fmt: skip
                    record.shows.append(arrived)
                for _ in range(rng.choice((0, 1, 1, 2, 3))):
                    attempt_at = created + timedelta(minutes=rng.choice((2, 4, 30, 50, 90, 600)))
                    outcome = rng.choice(("no_answer", "reached", "voicemail", "replied"))
                    session.add(
                        ContactAttempt(
                            dealer_id=dealers[code], lead_id=lead.id, profile_id=lead.profile_id,
                            method="call", outcome=outcome, attempted_at=attempt_at,
                        )
                    )  # fmt: skip
                    record.attempts.append((attempt_at, outcome))
                made.append(record)
        session.commit()
    return Network(dealers, sellers, emails, made)


# --- reading the page's figures ----------------------------------------------------------------
CELL_KINDS = ("leads", "valid", *STEPS, "lost", "open")
CHANNEL_LABELS = {"website": "Brand website", "phone": "Phone", "marketplace": "Marketplace",
                  "walk_in": "Walk-in"}  # fmt: skip


def funnel_csv(client: StaffClient, table: str, params: dict[str, str]) -> list[dict[str, str]]:
    """One of the funnel's tables as its CSV download gives it."""
    response = client.client.get("/showroom/funnel.csv", params={**params, "table": table})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    return list(csv.DictReader(io.StringIO(response.text)))


# --- the figures, computed independently --------------------------------------------------------
def month_bounds(day: date) -> tuple[datetime, datetime]:
    first = date(day.year, day.month, 1)
    nxt = date(first.year + (first.month == 12), first.month % 12 + 1, 1)
    return (
        datetime.combine(first, time(0), TZ).astimezone(UTC),
        datetime.combine(nxt, time(0), TZ).astimezone(UTC),
    )


def days_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    return (
        datetime.combine(start, time(0), TZ).astimezone(UTC),
        datetime.combine(end + timedelta(days=1), time(0), TZ).astimezone(UTC),
    )


def expected_counts(
    leads: list[MadeLead], since: datetime, until: datetime, definition: str
) -> dict[str, int]:
    """leads, valid, each step, lost, open for these leads."""
    came = [lead for lead in leads if since <= lead.created_at < until]
    counts = {
        "leads": len(came),
        "valid": sum(lead.valid for lead in came),
        "lost": sum(lead.stage == "lost" for lead in came),
        "open": sum(
            lead.stage in ("new", "attempted", "reached", "appointment", "test_drive", "quote")
            for lead in came
        ),
    }
    for index, step in enumerate(STEPS, start=1):
        if definition == "cohort":
            counts[step] = sum(lead.valid and lead.rank() >= index for lead in came)
        else:
            counts[step] = 0
            for lead in leads:
                first = lead.first_at(index)
                counts[step] += bool(lead.valid and first and since <= first < until)
    return counts


def expected_why(
    leads: list[MadeLead], since: datetime, until: datetime
) -> dict[str, float | None]:
    came = [lead for lead in leads if since <= lead.created_at < until and lead.valid]
    delays = []
    for lead in came:
        if lead.attempts:
            delays.append((min(a for a, _ in lead.attempts) - lead.created_at).total_seconds())
    attempts = []
    for lead in came:
        reaching = [a for a, outcome in lead.attempts if outcome in ("reached", "replied")]
        if reaching:
            attempts.append(sum(a <= min(reaching) for a, _ in lead.attempts))
    cycles = [
        (sold - lead.created_at).total_seconds() / 86400
        for lead in came
        if (sold := lead.first_at(6)) is not None
    ]
    n = len(came)
    return {
        "valid leads": n,
        "contacted": len(delays),
        "median seconds to first contact": statistics.median(delays) if delays else None,
        "share contacted within 5 minutes": sum(d <= 300 for d in delays) / n if n else None,
        "share contacted within 1 hour": sum(d <= 3600 for d in delays) / n if n else None,
        "reached by a contact attempt": len(attempts),
        "median attempts to reach": statistics.median(attempts) if attempts else None,
        "mean attempts to reach": statistics.mean(attempts) if attempts else None,
        "sold": len(cycles),
        "median days lead to sale": statistics.median(cycles) if cycles else None,
    }
