"""A saved configuration priced line by line from the catalogue, as the customer page shows it.

Configurators send a saved car in different shapes: the tablet sends each option as
`{code, label, price}` and the catalogue codes of every choice (`selection`); a website may send
options as bare names and no codes at all. Whatever the shape, each choice and option is looked
up in the catalogue (by code when the event gave one, else by name), so an online configuration
shows what each option costs just as a showroom one does. An option the catalogue does not know
is kept and shown without a price (or with the price its event carried); nothing is dropped.

The total the event carried is what the customer saw when saving; the catalogue total is what
the same car costs today, and exists only when every choice and option is in the catalogue.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol, TypeVar

from cdp import catalogue
from cdp.catalogue import Model
from cdp.profiles.schemas import ConfigurationOut

# The configuration's fields that are one catalogue choice each (all but the trim add a surcharge).
SURCHARGED = ("engine", "colour", "wheels", "interior")


class _Named(Protocol):
    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...


_N = TypeVar("_N", bound=_Named)


@dataclass(frozen=True, slots=True)
class PricedOption:
    label: str
    price: Decimal | None  # None: not in the catalogue, and its event carried no price
    in_catalogue: bool


@dataclass(frozen=True, slots=True)
class ConfigurationPrices:
    options: list[PricedOption] = field(default_factory=list)
    # What each choice adds to the trim's price (only those found in the catalogue).
    surcharges: dict[str, Decimal] = field(default_factory=dict)
    catalogue_total: Decimal | None = None  # every choice and option found in the catalogue
    saved_total: Decimal | None = None  # the price the saving event carried
    colour_hex: str | None = None  # the event's colour, else the catalogue's

    @property
    def total(self) -> Decimal | None:
        """The price to show first: what the customer saw when saving, else today's."""
        return self.saved_total if self.saved_total is not None else self.catalogue_total

    @property
    def repriced(self) -> bool:
        """True when today's catalogue price differs from the price the customer saw."""
        return (
            self.saved_total is not None
            and self.catalogue_total is not None
            and self.saved_total != self.catalogue_total
        )


def _fold(value: object) -> str:
    return value.strip().casefold() if isinstance(value, str) else ""


def _find(items: Iterable[_N], code: object, name: object) -> _N | None:
    """The item with this code, else the one with this name (case and spaces ignored)."""
    found = list(items)
    for item in found:
        if isinstance(code, str) and item.code == code.strip():
            return item
    wanted = _fold(name)
    for item in found:
        if wanted and item.name.casefold() == wanted:
            return item
    return None


def _money(value: object) -> Decimal | None:
    if value is None or isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        return None
    return amount if amount.is_finite() and 0 <= amount < 10**9 else None


def _option_parts(option: Any) -> tuple[str, object, object]:
    """(label to show, code, price sent) of one option as any configurator sends it."""
    if isinstance(option, Mapping):
        code, label = option.get("code"), option.get("label") or option.get("name")
        shown = str(label or code or "").strip()
        return shown, code, option.get("price")
    if option is None or isinstance(option, list | bool):  # not an option, whoever sent it
        return "", None, None
    return str(option).strip(), None, None


def _model_of(configuration: ConfigurationOut, codes: Mapping[str, Any]) -> Model | None:
    return _find(catalogue.MODELS, codes.get("model"), configuration.model)


def price_configuration(
    configuration: ConfigurationOut, properties: Mapping[str, Any] | None = None
) -> ConfigurationPrices:
    """Price a saved configuration; `properties` is its Configuration Saved event's (for the
    catalogue codes in `selection`), when known."""
    sent_codes = (properties or {}).get("selection")
    codes: Mapping[str, Any] = sent_codes if isinstance(sent_codes, Mapping) else {}
    model = _model_of(configuration, codes)
    options: list[PricedOption] = []
    every_option_known = True
    for option in configuration.options:
        label, code, sent_price = _option_parts(option)
        if not label:
            continue
        pack = _find(model.packs, code, label) if model else None
        if pack is None:
            every_option_known = False
            options.append(PricedOption(label, _money(sent_price), in_catalogue=False))
        else:
            options.append(PricedOption(label, Decimal(pack.price), in_catalogue=True))
    if model is None:
        return ConfigurationPrices(
            options=options,
            saved_total=configuration.total_price,
            colour_hex=configuration.colour_hex,
        )
    trim = _find(model.trims, codes.get("trim"), configuration.trim)
    chosen = {
        "engine": _find(model.engines, codes.get("engine"), configuration.engine),
        "colour": _find(model.colours, codes.get("colour"), configuration.colour),
        "wheels": _find(model.wheels, codes.get("wheels"), configuration.wheels),
        "interior": _find(model.interiors, codes.get("interior"), configuration.interior),
    }
    surcharges = {
        name: Decimal(choice.price_delta) for name, choice in chosen.items() if choice is not None
    }
    total = None
    if trim is not None and len(surcharges) == len(SURCHARGED) and every_option_known:
        packs = sum((option.price or Decimal(0) for option in options), Decimal(0))
        total = Decimal(trim.price) + sum(surcharges.values(), Decimal(0)) + packs
    colour = chosen["colour"]
    return ConfigurationPrices(
        options=options,
        surcharges=surcharges,
        catalogue_total=total,
        saved_total=configuration.total_price,
        colour_hex=configuration.colour_hex
        or (colour.hex if isinstance(colour, catalogue.Colour) else None),
    )
