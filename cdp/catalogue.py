"""The product catalogue the tablet configures and segmentation reads: today the demo brand
Nordwind, a fictional car maker selling in the Netherlands and Belgium.

A model is configured step by step (`CONFIGURATOR_STEPS`): trim, engine, colour, wheels,
interior, then option packs. Every price is in whole euros including VAT, as a buyer in NL/BE
sees it. A trim's price is the model's price in that trim with the model's standard choices;
every other choice adds its `price_delta` (or, for a pack, its `price`). The first engine,
colour, wheels and interior of every model are the standard ones: they add nothing.

Codes are stable, lower-case slugs; names are what a buyer reads. Codes are unique within their
kind on one model, so (model code, kind, code) names any choice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, Protocol, TypeVar

BRAND = "Nordwind"
CURRENCY = "EUR"

BodyType = Literal["hatchback", "estate", "sedan", "suv", "compact_suv"]
Fuel = Literal["petrol", "hybrid", "electric"]
Finish = Literal["solid", "metallic", "special"]
# The configurator interest a pack speaks to (cdp.taxonomy.INTERESTS, minus price_finance).
Interest = Literal["design", "performance", "comfort_safety"]
# The Option Selected category a pack is sent under (cdp.taxonomy.OPTION_CATEGORIES).
PackCategory = Literal["pack", "option"]

# The configurator's steps in order; the names are the `step` of Configuration Step Viewed.
# "finance" (the finance calculator) is optional: buyers who pay cash skip it.
CONFIGURATOR_STEPS = (
    "model",
    "trim",
    "engine",
    "colour",
    "wheels",
    "interior",
    "packs",
    "summary",
    "finance",
)
# The steps where exactly one choice is made; their names are also `Selection` fields.
CHOICE_STEPS = ("trim", "engine", "colour", "wheels", "interior")


@dataclass(frozen=True, slots=True)
class Trim:
    code: str
    name: str
    price: int  # the model in this trim with its base engine


@dataclass(frozen=True, slots=True)
class Engine:
    code: str
    name: str
    fuel: Fuel
    power_kw: int
    price_delta: int


@dataclass(frozen=True, slots=True)
class Colour:
    code: str
    name: str
    hex: str  # "#RRGGBB", what the configurator paints the car with
    finish: Finish
    price_delta: int


@dataclass(frozen=True, slots=True)
class Wheels:
    code: str
    name: str
    size_inch: int
    price_delta: int


@dataclass(frozen=True, slots=True)
class Interior:
    code: str
    name: str
    price_delta: int


@dataclass(frozen=True, slots=True)
class OptionPack:
    """An option pack or a single option: any number of them can be added to a configuration."""

    code: str
    name: str
    price: int
    interest: Interest
    description: str
    category: PackCategory = "pack"
    adds_seats: int = 0


class _Coded(Protocol):
    @property
    def code(self) -> str: ...


_C = TypeVar("_C", bound=_Coded)


def _find(items: Sequence[_C], code: str, what: str, model: str) -> _C:
    for item in items:
        if item.code == code:
            return item
    raise KeyError(f"{model} has no {what} {code!r}")


@dataclass(frozen=True, slots=True)
class Model:
    code: str
    name: str
    body: BodyType
    seats: int  # as standard; a pack may add seats
    tagline: str
    trims: tuple[Trim, ...]  # cheapest first
    engines: tuple[Engine, ...]  # the base engine (no surcharge) first
    colours: tuple[Colour, ...]
    wheels: tuple[Wheels, ...]
    interiors: tuple[Interior, ...]
    packs: tuple[OptionPack, ...]

    @property
    def fully_electric(self) -> bool:
        return all(engine.fuel == "electric" for engine in self.engines)

    @property
    def max_seats(self) -> int:
        return self.seats + max((pack.adds_seats for pack in self.packs), default=0)

    @property
    def base_price(self) -> int:
        """The "from" price: cheapest trim, base engine, no extras."""
        return min(trim.price for trim in self.trims)

    def trim(self, code: str) -> Trim:
        return _find(self.trims, code, "trim", self.name)

    def engine(self, code: str) -> Engine:
        return _find(self.engines, code, "engine", self.name)

    def colour(self, code: str) -> Colour:
        return _find(self.colours, code, "colour", self.name)

    def wheel(self, code: str) -> Wheels:
        return _find(self.wheels, code, "wheels", self.name)

    def interior(self, code: str) -> Interior:
        return _find(self.interiors, code, "interior", self.name)

    def pack(self, code: str) -> OptionPack:
        return _find(self.packs, code, "option pack", self.name)


@dataclass(frozen=True, slots=True)
class Selection:
    """What a buyer has chosen, by code: one of each step, plus any number of packs."""

    model: str
    trim: str
    engine: str
    colour: str
    wheels: str
    interior: str
    packs: tuple[str, ...] = ()

    def choice(self, step: str) -> str:
        """The code chosen in one of `CHOICE_STEPS`."""
        if step not in CHOICE_STEPS:
            raise ValueError(f"{step!r} is not one of {', '.join(CHOICE_STEPS)}")
        value: str = getattr(self, step)
        return value

    def choose(self, step: str, code: str) -> Selection:
        """A copy with `code` chosen in one of `CHOICE_STEPS` (not checked against the model)."""
        if step not in CHOICE_STEPS:
            raise ValueError(f"{step!r} is not one of {', '.join(CHOICE_STEPS)}")
        changes: dict[str, Any] = {step: code}
        return replace(self, **changes)


# --- shared choices --------------------------------------------------------------------------
GLACIER_WHITE = Colour("glacier-white", "Glacier White", "#F1F3F2", "solid", 0)
GRANITE_GREY = Colour("granite-grey", "Granite Grey", "#5C6166", "solid", 0)
BASALT_BLACK = Colour("basalt-black", "Basalt Black", "#1B1C1E", "metallic", 890)
SILVER_BIRCH = Colour("silver-birch", "Silver Birch", "#B9BDC0", "metallic", 890)
POLAR_BLUE = Colour("polar-blue", "Polar Blue", "#24507A", "metallic", 890)
MOSS_GREEN = Colour("moss-green", "Moss Green", "#4B5E3C", "metallic", 890)
SANDSTONE = Colour("sandstone", "Sandstone", "#C9B796", "metallic", 890)
AURORA_RED = Colour("aurora-red", "Aurora Red", "#9C1C2E", "special", 1490)
COPPER_DUNE = Colour("copper-dune", "Copper Dune", "#A8633A", "special", 1490)
MIDNIGHT_VIOLET = Colour("midnight-violet", "Midnight Violet", "#35294A", "special", 1690)

CHARCOAL_CLOTH = Interior("charcoal-cloth", "Charcoal Cloth", 0)
SLATE_KNIT = Interior("slate-knit", "Slate Recycled Knit", 0)  # standard on the dearer models
ASH_KNIT = Interior("ash-knit", "Ash Recycled Knit", 490)
COGNAC_LEATHER = Interior("cognac-leather", "Cognac Leather", 1950)
BLACK_NAPPA = Interior("black-nappa", "Black Nappa Leather", 2450)

SAFETY_PACK = OptionPack(
    "safety",
    "Safety Pack",
    1290,
    "comfort_safety",
    "Adaptive cruise control, blind-spot assist and a 360° camera",
)
WINTER_PACK = OptionPack(
    "winter",
    "Winter Pack",
    690,
    "comfort_safety",
    "Heated front seats, steering wheel and windscreen",
)
COMFORT_PACK = OptionPack(
    "comfort",
    "Comfort Pack",
    1490,
    "comfort_safety",
    "Electric memory seats, keyless entry and an electric tailgate",
)
THIRD_ROW = OptionPack(
    "third-row",
    "7 Seats (third row)",
    1750,
    "comfort_safety",
    "Two extra seats that fold flat into the boot floor",
    adds_seats=2,
)
TOW_BAR = OptionPack(
    "tow-bar",
    "Tow bar",
    950,
    "comfort_safety",
    "Electrically folding tow bar",
    category="option",
)
BLACK_STYLING = OptionPack(
    "black-styling",
    "Black Styling Pack",
    890,
    "design",
    "Gloss black mirror caps, roof rails, window trim and badges",
)
AMBIENT_LIGHT = OptionPack(
    "ambient-light",
    "Ambient Light Pack",
    590,
    "design",
    "Adjustable 30-colour ambient lighting and illuminated sill plates",
)
PANORAMIC_ROOF = OptionPack(
    "panoramic-roof",
    "Panoramic Roof",
    1390,
    "design",
    "Tinted fixed glass roof with electric sunblind",
    category="option",
)
SPORT_PACK = OptionPack(
    "sport",
    "Sport Pack",
    1950,
    "performance",
    "Lowered sport suspension, larger brakes and sport seats",
)
PERFORMANCE_UPGRADE = OptionPack(
    "performance-upgrade",
    "Performance Upgrade",
    1190,
    "performance",
    "More power over the air and launch control (electric models)",
    category="option",
)

# --- the models ------------------------------------------------------------------------------
VELA = Model(
    code="vela",
    name="Vela",
    body="hatchback",
    seats=5,
    tagline="The nimble city hatchback",
    trims=(
        Trim("core", "Core", 27490),
        Trim("comfort", "Comfort", 29990),
        Trim("dynamic", "Dynamic", 32490),
        Trim("signature", "Signature", 34990),
    ),
    engines=(
        Engine("1.0-t74", "1.0 Turbo 74 kW", "petrol", 74, 0),
        Engine("1.5-t110", "1.5 Turbo 110 kW", "petrol", 110, 1900),
        Engine("1.6-hybrid104", "1.6 Hybrid 104 kW", "hybrid", 104, 3200),
    ),
    colours=(
        GLACIER_WHITE,
        GRANITE_GREY,
        BASALT_BLACK,
        SILVER_BIRCH,
        POLAR_BLUE,
        AURORA_RED,
        COPPER_DUNE,
        MIDNIGHT_VIOLET,
    ),
    wheels=(
        Wheels("16-aero", '16" Aero', 16, 0),
        Wheels("17-turbine", '17" Turbine', 17, 590),
        Wheels("18-diamond", '18" Diamond Cut', 18, 1190),
    ),
    interiors=(CHARCOAL_CLOTH, ASH_KNIT, COGNAC_LEATHER),
    packs=(
        SAFETY_PACK,
        WINTER_PACK,
        COMFORT_PACK,
        BLACK_STYLING,
        AMBIENT_LIGHT,
        PANORAMIC_ROOF,
        SPORT_PACK,
    ),
)

FJORD = Model(
    code="fjord",
    name="Fjord",
    body="estate",
    seats=5,
    tagline="The estate with room for everything",
    trims=(
        Trim("core", "Core", 39990),
        Trim("dynamic", "Dynamic", 43990),
        Trim("signature", "Signature", 47490),
    ),
    engines=(
        Engine("1.5-t118", "1.5 Turbo 118 kW", "petrol", 118, 0),
        Engine("2.0-hybrid145", "2.0 Hybrid 145 kW", "hybrid", 145, 3400),
        Engine("2.0-t195", "2.0 Turbo 195 kW", "petrol", 195, 6900),
    ),
    colours=(
        GLACIER_WHITE,
        GRANITE_GREY,
        BASALT_BLACK,
        SILVER_BIRCH,
        POLAR_BLUE,
        MOSS_GREEN,
        SANDSTONE,
        COPPER_DUNE,
    ),
    wheels=(
        Wheels("17-aero", '17" Aero', 17, 0),
        Wheels("18-turbine", '18" Turbine', 18, 690),
        Wheels("19-diamond", '19" Diamond Cut', 19, 1290),
    ),
    interiors=(CHARCOAL_CLOTH, ASH_KNIT, COGNAC_LEATHER),
    packs=(
        SAFETY_PACK,
        WINTER_PACK,
        COMFORT_PACK,
        TOW_BAR,
        BLACK_STYLING,
        PANORAMIC_ROOF,
        SPORT_PACK,
    ),
)

STERNA = Model(
    code="sterna",
    name="Sterna",
    body="sedan",
    seats=5,
    tagline="The fully electric sports sedan",
    trims=(
        Trim("core", "Core", 46990),
        Trim("dynamic", "Dynamic", 51990),
        Trim("signature", "Signature", 56490),
    ),
    engines=(
        Engine("sr-rwd170", "Standard Range RWD 170 kW", "electric", 170, 0),
        Engine("lr-rwd220", "Long Range RWD 220 kW", "electric", 220, 5000),
        Engine("lr-awd310", "Long Range AWD 310 kW", "electric", 310, 8500),
        Engine("perf-awd400", "Performance AWD 400 kW", "electric", 400, 13500),
    ),
    colours=(
        GLACIER_WHITE,
        BASALT_BLACK,
        SILVER_BIRCH,
        POLAR_BLUE,
        SANDSTONE,
        AURORA_RED,
        COPPER_DUNE,
        MIDNIGHT_VIOLET,
    ),
    wheels=(
        Wheels("19-aero", '19" Aero', 19, 0),
        Wheels("20-diamond", '20" Diamond Cut', 20, 1290),
        Wheels("20-forged-black", '20" Forged Black', 20, 1990),
        Wheels("21-forged-black", '21" Forged Black', 21, 2690),
    ),
    interiors=(SLATE_KNIT, COGNAC_LEATHER, BLACK_NAPPA),
    packs=(
        SAFETY_PACK,
        WINTER_PACK,
        COMFORT_PACK,
        BLACK_STYLING,
        AMBIENT_LIGHT,
        PANORAMIC_ROOF,
        SPORT_PACK,
        PERFORMANCE_UPGRADE,
    ),
)

TUNDRA = Model(
    code="tundra",
    name="Tundra",
    body="suv",
    seats=5,
    tagline="The large family SUV, with seven seats if you need them",
    trims=(
        Trim("core", "Core", 56990),
        Trim("comfort", "Comfort", 60490),
        Trim("dynamic", "Dynamic", 63490),
        Trim("signature", "Signature", 67990),
    ),
    engines=(
        Engine("2.5-hybrid-awd180", "2.5 Hybrid AWD 180 kW", "hybrid", 180, 0),
        Engine("e-awd250", "Electric AWD 250 kW", "electric", 250, 6500),
        Engine("e-perf-awd360", "Electric Performance AWD 360 kW", "electric", 360, 11500),
    ),
    colours=(
        GLACIER_WHITE,
        GRANITE_GREY,
        BASALT_BLACK,
        SILVER_BIRCH,
        POLAR_BLUE,
        MOSS_GREEN,
        SANDSTONE,
        AURORA_RED,
        COPPER_DUNE,
        MIDNIGHT_VIOLET,
    ),
    wheels=(
        Wheels("19-aero", '19" Aero', 19, 0),
        Wheels("20-turbine", '20" Turbine', 20, 990),
        Wheels("21-diamond", '21" Diamond Cut', 21, 1890),
        Wheels("22-forged-black", '22" Forged Black', 22, 2990),
    ),
    interiors=(SLATE_KNIT, COGNAC_LEATHER, BLACK_NAPPA),
    packs=(
        SAFETY_PACK,
        WINTER_PACK,
        COMFORT_PACK,
        THIRD_ROW,
        TOW_BAR,
        BLACK_STYLING,
        PANORAMIC_ROOF,
        SPORT_PACK,
    ),
)

LUMO = Model(
    code="lumo",
    name="Lumo",
    body="compact_suv",
    seats=5,
    tagline="The fully electric compact SUV",
    trims=(
        Trim("core", "Core", 36490),
        Trim("comfort", "Comfort", 38990),
        Trim("dynamic", "Dynamic", 41990),
    ),
    engines=(
        Engine("sr125", "Standard Range 125 kW", "electric", 125, 0),
        Engine("lr150", "Long Range 150 kW", "electric", 150, 3900),
        Engine("dual-awd220", "Dual Motor AWD 220 kW", "electric", 220, 7400),
    ),
    colours=(
        GLACIER_WHITE,
        GRANITE_GREY,
        BASALT_BLACK,
        SILVER_BIRCH,
        POLAR_BLUE,
        MOSS_GREEN,
        SANDSTONE,
        COPPER_DUNE,
    ),
    wheels=(
        Wheels("18-aero", '18" Aero', 18, 0),
        Wheels("19-turbine", '19" Turbine', 19, 790),
        Wheels("20-diamond", '20" Diamond Cut', 20, 1490),
    ),
    interiors=(CHARCOAL_CLOTH, ASH_KNIT, COGNAC_LEATHER),
    packs=(
        SAFETY_PACK,
        WINTER_PACK,
        COMFORT_PACK,
        TOW_BAR,
        BLACK_STYLING,
        AMBIENT_LIGHT,
        PERFORMANCE_UPGRADE,
    ),
)

MODELS: tuple[Model, ...] = (VELA, FJORD, STERNA, TUNDRA, LUMO)
_BY_CODE = {model.code: model for model in MODELS}


def model_by_code(code: str) -> Model:
    """The model with this code; KeyError names the codes that exist."""
    try:
        return _BY_CODE[code]
    except KeyError:
        raise KeyError(f"no model {code!r}; the models are {', '.join(_BY_CODE)}") from None


def base_selection(model: Model) -> Selection:
    """Where the configurator starts: cheapest trim and the first choice of every step."""
    cheapest = min(model.trims, key=lambda trim: trim.price)
    return Selection(
        model=model.code,
        trim=cheapest.code,
        engine=model.engines[0].code,
        colour=model.colours[0].code,
        wheels=model.wheels[0].code,
        interior=model.interiors[0].code,
    )


def price(selection: Selection) -> int:
    """The total price in euros incl. VAT; KeyError for a code the model does not offer."""
    model = model_by_code(selection.model)
    if len(set(selection.packs)) != len(selection.packs):
        raise ValueError(f"a pack is chosen twice: {selection.packs}")
    return (
        model.trim(selection.trim).price
        + model.engine(selection.engine).price_delta
        + model.colour(selection.colour).price_delta
        + model.wheel(selection.wheels).price_delta
        + model.interior(selection.interior).price_delta
        + sum(model.pack(code).price for code in selection.packs)
    )
