"""The planner's rules as the pages use them: whose plan it is (a dealer or the network), the
figures a plan starts from, and the reverse and forward calculations with what they need."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.orm import Session

from cdp.dealers import repository as dealers_repo
from cdp.dealers.visibility import NETWORK, DealerScope
from cdp.leads.norms import Norms, load_norms
from cdp.local_time import local_today
from cdp.models import LEAD_CHANNELS
from cdp.planner import observed as observing
from cdp.planner import queries
from cdp.planner.forward import SPEED, Outlook, Scenario, outlook
from cdp.planner.inputs import ForwardInput
from cdp.planner.observed import Observed, month_bounds
from cdp.planner.queries import STEPS
from cdp.planner.reverse import Reverse, Target, missing_rates, rate_of, reverse
from cdp.planner.seasonality import COUNTRIES, quarter_months, spread


@dataclass(frozen=True)
class Owner:
    """Whom a plan is for: one dealer, or the network (dealer_id None)."""

    dealer_id: int | None
    code: str
    country: str
    choices: list[tuple[str, str]]  # (code, name) of the dealers the caller may plan for
    may_plan_network: bool
    # Whose leads the figures come from: the dealer's, the network's, or with a problem the
    # caller's own dealers (never more than they may see).
    scope: DealerScope
    problem: str | None = None


def _one(dealer_id: int) -> DealerScope:
    return DealerScope(frozenset({dealer_id}))


def owner(session: Session, staff_scope: DealerScope, code: str) -> Owner:
    """A dealer manager plans for one of their dealers (the only one, when they have one); an
    importer manager for any dealer, or with no code for the network."""
    dealers = [d for d in dealers_repo.all_dealers(session) if staff_scope.sees(d.id)]
    choices = [(d.code, d.name) for d in dealers if d.active]
    network = staff_scope.network
    countries = Counter(d.country for d in dealers if d.active and d.country in COUNTRIES)
    network_country = countries.most_common(1)[0][0] if countries else "NL"
    wanted = code.strip().upper()[:20]
    if not wanted:
        if network:
            return Owner(None, "", network_country, choices, True, NETWORK)
        if len(dealers) == 1:
            only = dealers[0]
            return Owner(only.id, only.code, _country(only.country), choices, False, _one(only.id))
        problem = "Choose one of your dealers: a plan is for one dealer."
        return Owner(None, "", network_country, choices, False, staff_scope, problem)
    dealer = next((d for d in dealers if d.code == wanted), None)
    if dealer is None:
        problem = f"There is no dealer with the code {wanted} among yours."
        return Owner(None, "", network_country, choices, network, staff_scope, problem)
    return Owner(
        dealer.id, dealer.code, _country(dealer.country), choices, network, _one(dealer.id)
    )


def _country(country: str) -> str:
    return country if country in COUNTRIES else "NL"


@dataclass(frozen=True)
class Starting:
    """What the planner knows before a plan: norms and the last twelve months' figures."""

    norms: Norms
    observed: Observed
    today_year: int
    next_quarter: tuple[int, int]

    def rate(self, channel: str, basis: str) -> tuple[float | None, str]:
        return rate_of(channel, basis, self.norms, self.observed)

    def channels_with_norm(self) -> list[str]:
        return [c for c in LEAD_CHANNELS if self.norms.lead_to_sale(c)]


def starting(session: Session, scope: DealerScope, now: datetime) -> Starting:
    today = local_today(now)
    quarter = (today.month - 1) // 3 + 1
    following = (today.year, quarter + 1) if quarter < 4 else (today.year + 1, 1)
    return Starting(
        norms=load_norms(session),
        observed=observing.observe(session, scope, now),
        today_year=today.year,
        next_quarter=following,
    )


def default_mix(start: Starting) -> dict[str, float]:
    return observing.default_mix(start.observed, start.channels_with_norm())


def plan_backwards(
    session: Session, scope: DealerScope, target: Target, start: Starting, now: datetime
) -> tuple[Reverse | None, list[str]]:
    """The reverse plan, or the channels given a share that have no rate to plan with."""
    missing = missing_rates(target, start.norms, start.observed)
    if missing:
        return None, missing
    past = observing.history(session, scope, year=target.year, quarter=target.quarter, now=now)
    weights = spread(year=target.year, quarter=target.quarter, country=target.country, history=past)
    return reverse(target, norms=start.norms, observed=start.observed, spread=weights), []


def leads_last_year(
    session: Session, scope: DealerScope, year: int, quarter: int
) -> dict[str, tuple[int, int, int]]:
    """The leads that came in per channel in the same quarter a year earlier: the forward
    form's starting point when no plan is opened."""
    bounds = month_bounds(year - 1, quarter_months(quarter))
    found = queries.leads_per_month(session, scope, bounds)
    result = {}
    for channel in LEAD_CHANNELS:
        a, b, c = (found.get((i, channel), 0) for i in range(3))
        if a + b + c:
            result[channel] = (a, b, c)
    return result


def current_rates(start: Starting) -> dict[str, float | None]:
    """Each what-if's figure now, where the last twelve months show it (a share 0-1)."""
    found: dict[str, float | None] = {step: start.observed.step_rate(step) for step in STEPS}
    found[SPEED] = start.observed.speed.fast_share
    return found


def days_to_sale(session: Session, now: datetime) -> float | None:
    """The network's median days from lead to sale over the last twelve months (every dealer's
    leads, whoever plans: a dealer's own few sales would make a shaky median)."""
    return queries.median_days_to_sale(session, NETWORK, since=now - observing.WINDOW, until=now)


def plan_forwards(
    given: ForwardInput, start: Starting, *, days_to_sale: float | None = None
) -> tuple[Outlook | None, list[str]]:
    """The forward outlook, or the channels with leads but no rate to plan with; its sales
    shifted `days_to_sale` after their leads (None: no sale observed, none shifted)."""
    rates: dict[str, float] = {}
    missing = []
    for channel in given.leads:
        rate, _source = start.rate(channel, given.basis)
        if rate is None:
            missing.append(channel)
        else:
            rates[channel] = rate
    if missing:
        return None, missing
    scenario = Scenario(
        year=given.year,
        quarter=given.quarter,
        basis=given.basis,
        leads=given.leads,
        rates=rates,
        changes=given.changes,
        spend=given.spend,
        reach_now=given.reach_now
        if given.reach_now is not None
        else start.observed.step_rate("reached"),
        lag_days=days_to_sale or 0.0,
    )
    ratio, _source = start.observed.fast_reach_ratio()
    return outlook(scenario, fast_reach_ratio=ratio), []
