"""Demo customers and the Segment messages their configurator and showroom visits send.

Each customer belongs to one planted behavioural group (`GROUPS`), and the group shapes what
they do in the configurator:
- design: tries many colours, wheels and interiors, ends on premium paint and styling packs;
- performance: compares trims and engines, ends on the most powerful engine and the Sport Pack;
- family: looks at SUVs and estates, adds safety and comfort packs and the third seat row;
- price: entry trims and base engines, the finance calculator, trade-in valuations and quotes.

The group is also sent in identify calls as the trait `demo_group`. That trait exists in demo
data only: it lets tests, and later clustering work, check that behaviour recovers the group.

A customer visits the configurator 1 to 5 times over some weeks, from one or two devices (one
anonymousId each), leaves an e-mail address at some point (often with name, phone and consent),
saves configurations, and may visit the showroom, where each tablet session has a fresh
anonymousId and starts with an identify call.

Everything is drawn from one `random.Random(seed)`, and timestamps end before a reference date
derived from the seed (never the wall clock): the same seed gives the same messages, messageIds
included, so loading them twice stores them once.

Option Selected / Option Removed properties: `category` (a step), `code`, `label`, `price_delta`
(what that choice adds to the price), `total_price` (the price after the event), `interest`.
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal

from cdp import catalogue, taxonomy
from cdp.catalogue import CHOICE_STEPS, CURRENCY, Interest, Model, Selection, model_by_code
from cdp.demo.people import Country, Person, Registry, make_person

Group = Literal["design", "performance", "family", "price"]
GROUPS: tuple[Group, ...] = ("design", "performance", "family", "price")
Channel = Literal["web", "showroom"]

HISTORY_DAYS = 120
SITE = "https://www.nordwind.example"
_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud
_FIRST_REFERENCE = date(2026, 6, 1)


@dataclass(frozen=True, slots=True)
class Behaviour:
    """How one group uses the configurator; chances are per visit unless said otherwise."""

    share: float  # of all customers
    models: dict[str, float]  # model code -> weight
    # Per choice step: how many choices they click (min, max), and where their final choice
    # lies among the step's choices ordered by price (0 = cheapest, 1 = dearest).
    tries: dict[str, tuple[int, int]]
    taste: dict[str, tuple[float, float]]
    packs: dict[Interest, float]  # chance to add each pack that speaks to this interest
    seven_seats: float
    second_thoughts: tuple[int, int]  # packs added or removed again after the first pick
    revisits: tuple[str, ...]  # steps they go back to
    visits: tuple[int, ...]  # weights of 1, 2, 3, 4 or 5 configurator visits
    save: float  # once they have left an e-mail address
    finance: float
    trade_in: float
    quote: float  # per visit once identified, until they have asked for one
    test_drive: float  # likewise
    showroom: float  # per customer: the chance they visit a dealer


BEHAVIOURS: dict[Group, Behaviour] = {
    "design": Behaviour(
        share=0.25,
        models={"vela": 3, "sterna": 3, "lumo": 2, "fjord": 1.5, "tundra": 1},
        tries={"trim": (1, 2), "engine": (0, 1), "colour": (3, 7), "wheels": (2, 4),
               "interior": (1, 3)},
        taste={"trim": (0.6, 1), "engine": (0, 0.5), "colour": (0.65, 1), "wheels": (0.6, 1),
               "interior": (0.5, 1)},
        packs={"design": 0.8, "performance": 0.08, "comfort_safety": 0.12},
        seven_seats=0.05,
        second_thoughts=(0, 2),
        revisits=("colour", "wheels", "interior"),
        visits=(25, 30, 22, 13, 10),
        save=0.55, finance=0.08, trade_in=0.05, quote=0.12, test_drive=0.2, showroom=0.22,
    ),
    "performance": Behaviour(
        share=0.23,
        models={"sterna": 4, "fjord": 2, "tundra": 2, "vela": 1.5, "lumo": 1},
        tries={"trim": (2, 3), "engine": (2, 4), "colour": (1, 2), "wheels": (0, 1),
               "interior": (0, 1)},
        taste={"trim": (0.6, 1), "engine": (0.9, 1), "colour": (0, 1), "wheels": (0.5, 1),
               "interior": (0, 1)},
        packs={"design": 0.1, "performance": 0.85, "comfort_safety": 0.08},
        seven_seats=0.05,
        second_thoughts=(0, 1),
        revisits=("engine", "trim"),
        visits=(25, 30, 22, 13, 10),
        save=0.45, finance=0.08, trade_in=0.12, quote=0.2, test_drive=0.55, showroom=0.3,
    ),
    "family": Behaviour(
        share=0.27,
        models={"tundra": 4, "fjord": 3, "lumo": 2, "vela": 0.5, "sterna": 0.3},
        tries={"trim": (1, 1), "engine": (1, 1), "colour": (1, 1), "wheels": (0, 0),
               "interior": (0, 1)},
        taste={"trim": (0.3, 0.7), "engine": (0, 0.5), "colour": (0, 0.6), "wheels": (0, 0.3),
               "interior": (0, 0.5)},
        packs={"design": 0.06, "performance": 0.03, "comfort_safety": 0.8},
        seven_seats=0.75,
        second_thoughts=(2, 4),
        revisits=("packs",),
        visits=(30, 30, 20, 12, 8),
        save=0.45, finance=0.3, trade_in=0.3, quote=0.3, test_drive=0.35, showroom=0.3,
    ),
    "price": Behaviour(
        share=0.25,
        models={"vela": 4, "lumo": 3, "fjord": 1.5, "sterna": 0.7, "tundra": 0.3},
        tries={"trim": (1, 1), "engine": (0, 1), "colour": (0, 1), "wheels": (0, 0),
               "interior": (0, 0)},
        taste={"trim": (0, 0.1), "engine": (0, 0.1), "colour": (0, 0.15), "wheels": (0, 0),
               "interior": (0, 0)},
        packs={"design": 0.03, "performance": 0.02, "comfort_safety": 0.12},
        seven_seats=0.1,
        second_thoughts=(0, 1),
        revisits=("summary",),
        visits=(30, 30, 20, 12, 8),
        save=0.35, finance=0.9, trade_in=0.6, quote=0.55, test_drive=0.15, showroom=0.2,
    ),
}  # fmt: skip

_CONSENT_WORDING = {
    "nl": "Ja, ik wil aanbiedingen en nieuws van Nordwind per e-mail ontvangen.",
    "fr": "Oui, je souhaite recevoir les offres et nouvelles de Nordwind par e-mail.",
    "en": "Yes, I would like to receive offers and news from Nordwind by email.",
}
_USER_AGENTS = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 18_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/18.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Linux; Android 15; SM-S921B) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/137.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/137.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/18.5 Safari/605.1.15",
)
_TRADE_INS = (  # make, model, price new
    ("Volkswagen", "Golf", 32000),
    ("Toyota", "Yaris", 22000),
    ("Peugeot", "308", 30000),
    ("Opel", "Astra", 28000),
    ("Kia", "Ceed", 27000),
    ("Renault", "Clio", 21000),
    ("Škoda", "Octavia Combi", 33000),
    ("Volvo", "V60", 48000),
    ("BMW", "3 Serie", 52000),
    ("Ford", "Focus", 28000),
    ("Tesla", "Model 3", 45000),
)
# Web visits start in the evening more often than in the morning.
_WEB_HOURS = tuple(range(7, 24))
_WEB_HOUR_WEIGHTS = (1, 2, 3, 3, 3, 4, 4, 3, 3, 3, 4, 5, 7, 9, 9, 7, 4)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One message as its source sends it: which channel, and the raw Segment message."""

    channel: Channel
    country: Country  # the customer's: the phone region their numbers are written for
    at: datetime
    message: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DemoCustomer:
    number: int
    group: Group
    person: Person
    walk_in: bool  # their first contact was the showroom
    saved_codes: tuple[str, ...]
    messages: tuple[Outgoing, ...]


@dataclass(frozen=True, slots=True)
class DemoData:
    seed: int
    reference: datetime  # every message happened before this moment
    customers: tuple[DemoCustomer, ...]

    def messages(self) -> list[Outgoing]:
        """Every customer's messages in time order (stable, so equal times keep their order)."""
        every = [out for customer in self.customers for out in customer.messages]
        return sorted(every, key=lambda out: out.at)


def reference_date(seed: int) -> datetime:
    """A fixed 'now' for the demo, derived from the seed: summer 2026, 06:00 UTC."""
    day = _FIRST_REFERENCE + timedelta(days=random.Random(seed).randrange(92))
    return datetime(day.year, day.month, day.day, 6, 0, tzinfo=UTC)


def generate(customers: int, seed: int, reference: datetime | None = None) -> DemoData:
    """`customers` demo customers with all their messages; the same arguments, the same data."""
    rng = random.Random(seed)
    ref = reference or reference_date(seed)
    registry = Registry()
    codes: set[str] = set()
    people = [
        _Journey(rng, number, group, make_person(rng, registry), codes, ref).run()
        for number, group in enumerate(_groups(rng, customers), start=1)
    ]
    return DemoData(seed=seed, reference=ref, customers=tuple(people))


def _groups(rng: random.Random, count: int) -> list[Group]:
    """Groups in their shares, exactly where rounding allows, in random order."""
    groups: list[Group] = []
    for group in GROUPS:
        groups += [group] * round(BEHAVIOURS[group].share * count)
    while len(groups) < count:
        groups.append(GROUPS[len(groups) % len(GROUPS)])
    rng.shuffle(groups)
    return groups[:count]


def _iso(at: datetime) -> str:
    return at.isoformat(timespec="milliseconds").replace("+00:00", "Z")


@dataclass(frozen=True, slots=True)
class _Choice:
    code: str
    label: str
    price_delta: int
    extra: dict[str, Any] = field(default_factory=dict)


def _choices(model: Model, step: str) -> list[_Choice]:
    """A step's choices, cheapest first (stable: the catalogue's order breaks ties)."""
    if step == "trim":
        items = [_Choice(t.code, t.name, t.price - model.base_price) for t in model.trims]
    elif step == "engine":
        items = [
            _Choice(e.code, e.name, e.price_delta, {"fuel": e.fuel, "power_kw": e.power_kw})
            for e in model.engines
        ]
    elif step == "colour":
        items = [
            _Choice(c.code, c.name, c.price_delta, {"colour_hex": c.hex, "finish": c.finish})
            for c in model.colours
        ]
    elif step == "wheels":
        items = [_Choice(w.code, w.name, w.price_delta) for w in model.wheels]
    else:
        items = [_Choice(i.code, i.name, i.price_delta) for i in model.interiors]
    return sorted(items, key=lambda choice: choice.price_delta)


class _Journey:
    """Writes one customer's visits as Segment messages, keeping what the sites know of them."""

    def __init__(
        self,
        rng: random.Random,
        number: int,
        group: Group,
        person: Person,
        codes: set[str],
        reference: datetime,
    ) -> None:
        self.rng = rng
        self.number = number
        self.group = group
        self.b = BEHAVIOURS[group]
        self.person = person
        self.codes = codes  # configuration codes taken by anyone in this run
        self.reference = reference
        self.out: list[Outgoing] = []
        self.devices = [self._uuid()] + ([self._uuid()] if rng.random() < 0.3 else [])
        self.user_agents = rng.sample(_USER_AGENTS, len(self.devices))
        # What the current visit looks like.
        self.channel: Channel = "web"
        self.device = self.devices[0]
        self.context: dict[str, Any] = {}
        self.at = reference
        # What the customer has done so far.
        self.linked: set[str] = set()  # anonymousIds identify calls have tied to their e-mail
        self.configured_on: set[str] = set()  # devices that remember a configuration
        self.email_given = False
        self.details_given = False
        self.email_consent = False
        self.tracking_consent = False
        self.quoted = False
        self.test_drive_requested = False
        self.saved: list[tuple[str, Selection]] = []
        self.selection = catalogue.base_selection(self._favourite_model())

    # --- the plan ---------------------------------------------------------------------------
    def run(self) -> DemoCustomer:
        walk_in = self.rng.random() < 0.05
        visits = self._plan(walk_in)
        web_visits = [i for i, (channel, _) in enumerate(visits) if channel == "web"]
        identify_at = web_visits[min(self.rng.randrange(len(web_visits)), 2)]
        for index, (channel, start) in enumerate(visits):
            if channel == "showroom":
                self._showroom_visit(start)
            else:
                self._web_visit(start, identify_here=index == identify_at)
        self._maybe_withdraw()
        return DemoCustomer(
            number=self.number,
            group=self.group,
            person=self.person,
            walk_in=walk_in,
            saved_codes=tuple(code for code, _ in self.saved),
            messages=tuple(self.out),
        )

    def _plan(self, walk_in: bool) -> list[tuple[Channel, datetime]]:
        """When each visit starts: a few weeks of evenings online, showroom in opening hours."""
        count = self.rng.choices(range(1, 6), weights=self.b.visits)[0]
        kinds: list[Channel] = ["web"] * count
        if walk_in:
            kinds.insert(0, "showroom")
        elif self.rng.random() < self.b.showroom:
            kinds.insert(self.rng.randint(1, count), "showroom")
        days = [0]
        for _ in kinds[1:]:  # at most 5 gaps of 21 days: always fits in the history
            days.append(days[-1] + self.rng.randint(1, 21))
        last_day = HISTORY_DAYS - 2  # the last visit ends a day before the reference
        first_day = self.rng.randint(0, last_day - days[-1])
        midnight = (self.reference - timedelta(days=HISTORY_DAYS)).replace(hour=0, minute=0)
        starts = []
        for kind, day in zip(kinds, days, strict=True):
            if kind == "web":
                hour = self.rng.choices(_WEB_HOURS, weights=_WEB_HOUR_WEIGHTS)[0]
            else:
                hour = self.rng.randint(9, 16)
            offset = timedelta(days=first_day + day, hours=hour, seconds=self.rng.randrange(3600))
            starts.append(midnight + offset)
        return list(zip(kinds, starts, strict=True))

    # --- visits -----------------------------------------------------------------------------
    def _web_visit(self, start: datetime, *, identify_here: bool) -> None:
        device = self.rng.choice(self.devices)
        if device != self.devices[-1] and self.rng.random() < 0.3:
            device = self.devices[-1]  # make sure a second device gets used now and then
        self._begin("web", device, start)
        new_device = self.email_given and device not in self.linked
        if device in self.configured_on and self.rng.random() < 0.65:
            # The browser kept their configuration: they pick up where they left off.
            self._page("Configurator", f"configurator/{self.selection.model}")
            self._tweak()
        elif self.saved and self.rng.random() < (0.6 if new_device else 0.3):
            # Back through the link in their "your configuration" e-mail.
            self._load(self.saved[-1])
            self._tweak()
        else:
            self._page("Home", "")
            self._configure(self._pick_model())
        self.configured_on.add(device)
        if identify_here and not self.email_given:
            self._identify(details=self.rng.random() < 0.55)
            if self.rng.random() < 0.85:
                self._save()
        elif self.email_given and self.rng.random() < self.b.save:
            self._save()
        self._money_matters()
        if self.email_given:
            self._contact_requests()

    def _showroom_visit(self, start: datetime) -> None:
        """A tablet session with a salesperson: a fresh anonymousId, identified first."""
        self._begin("showroom", self._uuid(), start)
        self._identify(details=True)
        if self.saved and self.rng.random() < 0.75:
            self._load(self.saved[-1])
            self._tweak()
        else:
            self._configure(self._pick_model())
        if self.rng.random() < 0.85:
            self._save()
        if not self.quoted and self.rng.random() < 0.35:
            self._quote()

    def _money_matters(self) -> None:
        if self.rng.random() < self.b.finance:
            self._page("Finance", "finance")
            self._step("finance")
            for _ in range(self.rng.randint(1, 4 if self.group == "price" else 2)):
                self._finance()
        if self.rng.random() < self.b.trade_in:
            self._page("Trade-in", "trade-in")
            self._trade_in()

    def _contact_requests(self) -> None:
        if not self.quoted and self.rng.random() < self.b.quote:
            self._quote()
        if not self.test_drive_requested and self.rng.random() < self.b.test_drive:
            self._test_drive()

    # --- the configurator -------------------------------------------------------------------
    def _favourite_model(self) -> Model:
        codes, weights = zip(*self.b.models.items(), strict=True)
        return model_by_code(self.rng.choices(codes, weights=weights)[0])

    def _pick_model(self) -> Model:
        """Mostly the model they looked at before; now and then another one."""
        if self.rng.random() < 0.75:
            return model_by_code(self.selection.model)
        return self._favourite_model()

    def _configure(self, model: Model) -> None:
        self.selection = catalogue.base_selection(model)
        self._page(model.name, f"models/{model.code}")
        self._page("Configurator", f"configurator/{model.code}")
        self._track(
            taxonomy.CONFIGURATION_STARTED,
            {"model": model.name, "total_price": self._price(), "currency": CURRENCY},
        )
        self._step("model")
        self._option_event(taxonomy.OPTION_SELECTED, "model", _Choice(model.code, model.name, 0))
        for step in CHOICE_STEPS:
            self._step(step)
            self._choose(step, self.rng.randint(*self.b.tries[step]))
        self._step("packs")
        self._pick_packs()
        for step in self.b.revisits:
            if step != "summary" and self.rng.random() < 0.6:
                self._revisit(step)
        self._step("summary")

    def _tweak(self) -> None:
        """A return visit to a loaded configuration: change what this buyer cares about."""
        steps = self.rng.sample(self.b.revisits, self.rng.randint(1, len(self.b.revisits)))
        for step in steps:
            self._revisit(step)
        if steps[-1] != "summary":
            self._step("summary")

    def _revisit(self, step: str) -> None:
        self._step(step)
        if step in CHOICE_STEPS:
            self._choose(step, self.rng.randint(1, 2))
        elif step == "packs":
            self._toggle_pack()

    def _choose(self, step: str, tries: int) -> None:
        """Click `tries` choices; the last one is the buyer's taste, the others are browsing."""
        choices = _choices(self._model(), step)
        for n in range(tries):
            current = self.selection.choice(step)
            if n == tries - 1:
                low, high = self.b.taste[step]
                choice = choices[round(self.rng.uniform(low, high) * (len(choices) - 1))]
                if choice.code == current:
                    return  # already what they like: clicking it again sends nothing
            else:
                choice = self.rng.choice([c for c in choices if c.code != current] or choices)
            self.selection = self.selection.choose(step, choice.code)
            self._option_event(taxonomy.OPTION_SELECTED, step, choice)

    def _pack_chance(self, pack: catalogue.OptionPack) -> float:
        return self.b.seven_seats if pack.adds_seats else self.b.packs[pack.interest]

    def _pick_packs(self) -> None:
        for pack in self._model().packs:
            if self.rng.random() < self._pack_chance(pack):
                self._set_pack(pack, add=True)
        for _ in range(self.rng.randint(*self.b.second_thoughts)):
            self._toggle_pack()

    def _toggle_pack(self) -> None:
        packs = self._model().packs
        weights = [self._pack_chance(pack) + 0.01 for pack in packs]
        pack = self.rng.choices(packs, weights=weights)[0]
        self._set_pack(pack, add=pack.code not in self.selection.packs)

    def _set_pack(self, pack: catalogue.OptionPack, *, add: bool) -> None:
        chosen = tuple(code for code in self.selection.packs if code != pack.code)
        self.selection = replace(self.selection, packs=(*chosen, pack.code) if add else chosen)
        event = taxonomy.OPTION_SELECTED if add else taxonomy.OPTION_REMOVED
        choice = _Choice(pack.code, pack.name, pack.price, {"interest": pack.interest})
        self._option_event(event, pack.category, choice)

    def _option_event(self, event: str, category: str, choice: _Choice) -> None:
        interest = taxonomy.CATEGORY_INTEREST.get(category)
        props = {
            "model": self._model().name,
            "category": category,
            "code": choice.code,
            "label": choice.label,
            "price_delta": choice.price_delta,
            "total_price": self._price(),
            "currency": CURRENCY,
            **({"interest": interest} if interest else {}),
            **choice.extra,
        }
        self._track(event, props)

    def _step(self, step: str) -> None:
        number = catalogue.CONFIGURATOR_STEPS.index(step) + 1
        self._track(
            taxonomy.CONFIGURATION_STEP_VIEWED,
            {"step": step, "step_number": number, "model": self._model().name},
        )

    # --- saving and loading -----------------------------------------------------------------
    def _new_code(self) -> str:
        while True:
            code = "NW-" + "".join(self.rng.choices(_CODE_ALPHABET, k=6))
            if code not in self.codes:
                self.codes.add(code)
                return code

    def _save(self) -> None:
        if self.device not in self.linked:
            self._identify(details=False)  # saving asks for an e-mail address
        code, model, sel = self._new_code(), self._model(), self.selection
        colour = model.colour(sel.colour)
        self._track(
            taxonomy.CONFIGURATION_SAVED,
            {
                "configuration_code": code,
                "model": model.name,
                "trim": model.trim(sel.trim).name,
                "engine": model.engine(sel.engine).name,
                "colour": colour.name,
                "colour_hex": colour.hex,
                "wheels": model.wheel(sel.wheels).name,
                "interior": model.interior(sel.interior).name,
                "body_type": model.body,
                "fuel": model.engine(sel.engine).fuel,
                "options": [model.pack(p).name for p in sel.packs],
                "total_price": self._price(),
                "currency": CURRENCY,
                "url": f"{SITE}/{self._site_path()}/configurator/{code}",
                # Codes, so a configurator (the showroom tablet) can open it again.
                "selection": {
                    "model": sel.model,
                    "trim": sel.trim,
                    "engine": sel.engine,
                    "colour": sel.colour,
                    "wheels": sel.wheels,
                    "interior": sel.interior,
                    "packs": list(sel.packs),
                },
            },
        )
        self.saved.append((code, sel))

    def _load(self, saved: tuple[str, Selection]) -> None:
        code, self.selection = saved
        self._track(
            taxonomy.CONFIGURATION_LOADED,
            {"configuration_code": code, "model": self._model().name, "total_price": self._price()},
        )

    # --- money and contact ------------------------------------------------------------------
    def _finance(self) -> None:
        total = self._price()
        product = self.rng.choice(("private_lease", "loan", "loan", "financial_lease"))
        term = self.rng.choice((24, 36, 48, 60, 72))
        down = 0 if product == "private_lease" else self.rng.choice((0, 2500, 5000, 10000))
        props: dict[str, Any] = {
            "model": self._model().name,
            "product": product,
            "term_months": term,
            "down_payment": down,
            "total_price": total,
            "currency": CURRENCY,
        }
        if product == "private_lease":
            km = self.rng.choice((10000, 15000, 20000, 25000))
            monthly = total * 0.0145 * (48 / term) ** 0.3 * (km / 15000) ** 0.25
            props["annual_km"] = km
        else:
            rate = 0.069 / 12  # 6.9% a year, the usual advertised rate
            monthly = (total - down) * rate / (1 - (1 + rate) ** -term)
        props["monthly_payment"] = round(monthly, 2)
        self._track(taxonomy.FINANCE_CALCULATED, props)

    def _trade_in(self) -> None:
        make, model, new_price = self.rng.choice(_TRADE_INS)
        age = self.rng.randint(2, 12)
        km = age * self.rng.randrange(9000, 22000, 500)
        value = new_price * 0.87**age * max(0.4, 1 - km / 400000)
        self._track(
            taxonomy.TRADE_IN_VALUED,
            {
                # Not "model": that property names the Nordwind model an event is about.
                "trade_in_make": make,
                "trade_in_model": model,
                "trade_in_year": self.reference.year - age,
                "mileage_km": km,
                "estimated_value": int(round(value, -2)),
                "currency": CURRENCY,
            },
        )

    def _dealer_props(self) -> dict[str, str]:
        dealer = self.person.dealer
        return {"dealer_id": dealer.id, "dealer_name": dealer.name}

    def _quote(self) -> None:
        if not self.details_given or self.device not in self.linked:
            self._identify(details=True)  # the quote form asks for name and phone
        if self.channel == "web":
            self._track(taxonomy.DEALER_SELECTED, {**self._dealer_props(), "city": self._city()})
        props: dict[str, Any] = {
            "model": self._model().name,
            "total_price": self._price(),
            "currency": CURRENCY,
            "contact_preference": self.rng.choice(("phone", "email")),
            **self._dealer_props(),
        }
        if self.saved:
            props["configuration_code"] = self.saved[-1][0]
        self._track(taxonomy.QUOTE_REQUESTED, props)
        self.quoted = True

    def _test_drive(self) -> None:
        if not self.details_given or self.device not in self.linked:
            self._identify(details=True)
        self._page("Test drive", "test-drive")
        self._track(taxonomy.DEALER_SELECTED, {**self._dealer_props(), "city": self._city()})
        wanted = (self.at + timedelta(days=self.rng.randint(2, 14))).date()
        self._track(
            taxonomy.TEST_DRIVE_REQUESTED,
            {
                "model": self._model().name,
                "preferred_date": wanted.isoformat(),
                "preferred_time": self.rng.choice(("morning", "afternoon", "evening")),
                **self._dealer_props(),
            },
        )
        self.test_drive_requested = True

    # --- identity and consent ---------------------------------------------------------------
    def _typed_email(self) -> str:
        """Phones capitalise the first letter; some paste a trailing space."""
        email = self.person.email
        roll = self.rng.random()
        if roll < 0.12:
            return email[0].upper() + email[1:]
        return email + " " if roll < 0.15 else email

    def _identify(self, *, details: bool) -> None:
        p = self.person
        traits: dict[str, Any] = {
            "email": self._typed_email(),
            "language": p.language,
            "demo_group": self.group,  # demo data only: the planted group
        }
        if details:
            traits.update(
                firstName=p.first_name,
                lastName=p.last_name,
                phone=p.phone,
                address={"postalCode": p.postal_code, "city": p.city, "country": p.country},
            )
            self.details_given = True
        if not self.email_given:
            traits["consent"] = self._first_consent()
        self._send("identify", traits=traits)
        self.email_given = True
        self.linked.add(self.device)

    def _first_consent(self) -> dict[str, Any]:
        """What the first form they fill in records: most allow tracking, ~60% allow e-mail."""
        consent: dict[str, Any] = {}
        if self.rng.random() < 0.95:
            consent["tracking"] = "granted"
            self.tracking_consent = True
        if self.rng.random() < 0.6:
            wording = _CONSENT_WORDING[self.person.language]
            consent["email"] = {"status": "granted", "wording": wording}
            self.email_consent = True
        return consent

    def _maybe_withdraw(self) -> None:
        """Some unsubscribe from e-mail, a few switch tracking off, days after their last visit."""
        withdraw: dict[str, Any] = {}
        if self.email_consent and self.rng.random() < 0.12:
            withdraw["email"] = {"status": "withdrawn"}
        if self.tracking_consent and self.rng.random() < 0.03:
            withdraw["tracking"] = "withdrawn"
        if not withdraw:
            return
        at = self.at + timedelta(days=self.rng.randint(1, 20), hours=self.rng.randint(0, 12))
        if at >= self.reference:
            return
        self._begin("web", self.devices[0], at)
        self._send("identify", traits={"email": self.person.email, "consent": withdraw})

    # --- messages ---------------------------------------------------------------------------
    def _uuid(self) -> str:
        return str(uuid.UUID(int=self.rng.getrandbits(128), version=4))

    def _begin(self, channel: Channel, device: str, start: datetime) -> None:
        self.channel, self.device, self.at = channel, device, start
        if channel == "web":
            agent = self.user_agents[self.devices.index(device)]
            self.context = {
                "locale": self.person.locale,
                "userAgent": agent,
                "library": {"name": "analytics.js", "version": "next-1.81.0"},
            }
        else:
            self.context = {
                "locale": self.person.locale,
                "app": {"name": "Nordwind Showroom", "version": "2.3.1"},
                "device": {"type": "tablet", "model": "iPad13,18"},
                "library": {"name": "analytics-swift", "version": "1.7.3"},
                "dealer": self._dealer_props(),
            }

    def _send(self, kind: str, **fields: Any) -> None:
        message = {
            "type": kind,
            "messageId": self._uuid(),
            "anonymousId": self.device,
            "timestamp": _iso(self.at),
            "context": self.context,
            **fields,
        }
        self.out.append(Outgoing(self.channel, self.person.country, self.at, message))
        self.at += timedelta(seconds=self.rng.randint(4, 75), milliseconds=self.rng.randrange(1000))

    def _track(self, event: str, properties: dict[str, Any]) -> None:
        self._send("track", event=event, properties=properties)

    def _page(self, name: str, path: str) -> None:
        if self.channel != "web":
            return  # the showroom tablet app has no pages to report
        url = f"{SITE}/{self._site_path()}/{path}".rstrip("/")
        properties = {"path": url.removeprefix(SITE), "url": url, "title": f"{name} | Nordwind"}
        self._send("page", name=name, properties=properties)

    # --- small helpers ----------------------------------------------------------------------
    def _model(self) -> Model:
        return model_by_code(self.selection.model)

    def _price(self) -> int:
        return catalogue.price(self.selection)

    def _site_path(self) -> str:
        return self.person.locale.lower()

    def _city(self) -> str:
        return self.person.dealer.city
