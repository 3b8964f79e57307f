"""Configuring a car on the tablet: the model, one choice per step, option packs, moving between
steps and saving under a new code. Each choice is sent as the configurator's own Segment events
(cdp.tablet.service.send), so the customer's profile reads the same as after an online visit."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from cdp import catalogue, taxonomy
from cdp.catalogue import CHOICE_STEPS, CURRENCY, Model, OptionPack, Selection
from cdp.errors import InvalidInput
from cdp.models import (
    Configuration,
    Identity,
    TabletSession,
)
from cdp.tablet.service import require_customer, send

# The configurator's steps on the tablet: the finance calculator is the website's alone.
STEPS = tuple(step for step in catalogue.CONFIGURATOR_STEPS if step != "finance")


_CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O or 1/I: codes are read aloud


def selection_of(tablet: TabletSession) -> Selection | None:
    """The car as configured so far, or None before a model is chosen."""
    data = tablet.selection
    if not data.get("model"):
        return None
    return Selection(
        model=data["model"],
        trim=data["trim"],
        engine=data["engine"],
        colour=data["colour"],
        wheels=data["wheels"],
        interior=data["interior"],
        packs=tuple(data.get("packs", ())),
    )


SELECTION_KEYS = ("model", "trim", "engine", "colour", "wheels", "interior", "packs")


def car_of(tablet: TabletSession) -> dict[str, Any]:
    """The car's choices as stored, to compare with the last one saved (cdp/tablet/drafts.py)."""
    return {key: tablet.selection.get(key) for key in SELECTION_KEYS}


def store_selection(tablet: TabletSession, selection: Selection, **extra: Any) -> None:
    # A new dict: the JSON column only notices assignment, not changes inside it.
    tablet.selection = {
        **tablet.selection,
        "model": selection.model,
        "trim": selection.trim,
        "engine": selection.engine,
        "colour": selection.colour,
        "wheels": selection.wheels,
        "interior": selection.interior,
        "packs": list(selection.packs),
        **extra,
    }


def _require_model(tablet: TabletSession) -> tuple[Model, Selection]:
    selection = selection_of(tablet)
    if selection is None:
        raise InvalidInput("Choose a model first.", field="model")
    return catalogue.model_by_code(selection.model), selection


def _model(code: str) -> Model:
    try:
        return catalogue.model_by_code(code)
    except KeyError:
        raise InvalidInput(f"There is no model {code[:40]!r}.", field="model") from None


def _option_properties(
    model: Model,
    selection: Selection,
    *,
    category: str,
    code: str,
    label: str,
    price_delta: int,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    interest = taxonomy.CATEGORY_INTEREST.get(category)
    return {
        "model": model.name,
        "category": category,
        "code": code,
        "label": label,
        "price_delta": price_delta,
        "total_price": catalogue.price(selection),
        "currency": CURRENCY,
        **({"interest": interest} if interest else {}),
        **(extra or {}),
    }


def choose_model(
    session: Session, tablet: TabletSession, *, code: str, now: datetime, phone_region: str
) -> None:
    """Start configuring a model (again): the configurator's base choices, no packs."""
    require_customer(tablet)
    model = _model(code)
    current = selection_of(tablet)
    if current is not None and current.model == model.code:
        return  # tapped the model that is already chosen: nothing changed
    selection = catalogue.base_selection(model)
    store_selection(tablet, selection)
    send(
        session,
        tablet,
        [
            {
                "type": "track",
                "event": taxonomy.CONFIGURATION_STARTED,
                "properties": {
                    "model": model.name,
                    "total_price": catalogue.price(selection),
                    "currency": CURRENCY,
                },
            },
            {
                "type": "track",
                "event": taxonomy.OPTION_SELECTED,
                "properties": _option_properties(
                    model,
                    selection,
                    category="model",
                    code=model.code,
                    label=model.name,
                    price_delta=0,
                ),
            },
        ],
        now=now,
        phone_region=phone_region,
    )


def _choice(model: Model, step: str, code: str) -> tuple[str, int, dict[str, Any]]:
    """The label, price delta and extra properties of one choice; InvalidInput if unknown."""
    try:
        if step == "trim":
            trim = model.trim(code)
            return trim.name, trim.price - model.base_price, {}
        if step == "engine":
            engine = model.engine(code)
            return (
                engine.name,
                engine.price_delta,
                {
                    "fuel": engine.fuel,
                    "power_kw": engine.power_kw,
                },
            )
        if step == "colour":
            colour = model.colour(code)
            return (
                colour.name,
                colour.price_delta,
                {
                    "colour_hex": colour.hex,
                    "finish": colour.finish,
                },
            )
        if step == "wheels":
            wheels = model.wheel(code)
            return wheels.name, wheels.price_delta, {"size_inch": wheels.size_inch}
        interior = model.interior(code)
        return interior.name, interior.price_delta, {}
    except KeyError:
        what = "wheels" if step == "wheels" else step
        raise InvalidInput(f"The {model.name} has no {what} {code[:40]!r}.", field=step) from None


def choose(
    session: Session,
    tablet: TabletSession,
    *,
    step: str,
    code: str,
    now: datetime,
    phone_region: str,
) -> None:
    """One choice in a step where exactly one is made (trim, engine, colour, wheels, interior)."""
    require_customer(tablet)
    if step == "model":
        choose_model(session, tablet, code=code, now=now, phone_region=phone_region)
        return
    if step not in CHOICE_STEPS:
        raise InvalidInput(f"There is no step {step[:40]!r} to choose in.", field="step")
    model, selection = _require_model(tablet)
    label, price_delta, extra = _choice(model, step, code)
    if selection.choice(step) == code:
        return
    selection = selection.choose(step, code)
    store_selection(tablet, selection)
    send(
        session,
        tablet,
        [
            {
                "type": "track",
                "event": taxonomy.OPTION_SELECTED,
                "properties": _option_properties(
                    model,
                    selection,
                    category=step,
                    code=code,
                    label=label,
                    price_delta=price_delta,
                    extra=extra,
                ),
            }
        ],
        now=now,
        phone_region=phone_region,
    )


def set_pack(
    session: Session,
    tablet: TabletSession,
    *,
    code: str,
    add: bool,
    now: datetime,
    phone_region: str,
) -> None:
    """Add or remove an option pack (or single option); repeating either changes nothing."""
    require_customer(tablet)
    model, selection = _require_model(tablet)
    try:
        pack: OptionPack = model.pack(code)
    except KeyError:
        raise InvalidInput(
            f"The {model.name} has no option pack {code[:40]!r}.", field="pack"
        ) from None
    chosen = pack.code in selection.packs
    if chosen == add:
        return
    others = tuple(p for p in selection.packs if p != pack.code)
    selection = Selection(
        model=selection.model,
        trim=selection.trim,
        engine=selection.engine,
        colour=selection.colour,
        wheels=selection.wheels,
        interior=selection.interior,
        packs=(*others, pack.code) if add else others,
    )
    store_selection(tablet, selection)
    send(
        session,
        tablet,
        [
            {
                "type": "track",
                "event": taxonomy.OPTION_SELECTED if add else taxonomy.OPTION_REMOVED,
                "properties": _option_properties(
                    model,
                    selection,
                    category=pack.category,
                    code=pack.code,
                    label=pack.name,
                    price_delta=pack.price,
                    extra={"interest": pack.interest},
                ),
            }
        ],
        now=now,
        phone_region=phone_region,
    )


def view_step(
    session: Session, tablet: TabletSession, *, step: str, now: datetime, phone_region: str
) -> None:
    """Go to a step of the configurator (Back, Next, or a step's tab)."""
    require_customer(tablet)
    if step not in STEPS:
        raise InvalidInput(f"There is no step {step[:40]!r}.", field="step")
    selection = selection_of(tablet)
    if step != "model" and selection is None:
        raise InvalidInput("Choose a model first.", field="model")
    if tablet.selection.get("step") == step:
        return
    tablet.selection = {**tablet.selection, "step": step}
    model = catalogue.model_by_code(selection.model) if selection else None
    properties: dict[str, Any] = {
        "step": step,
        "step_number": catalogue.CONFIGURATOR_STEPS.index(step) + 1,
    }
    if model is not None:
        properties["model"] = model.name
    send(
        session,
        tablet,
        [{"type": "track", "event": taxonomy.CONFIGURATION_STEP_VIEWED, "properties": properties}],
        now=now,
        phone_region=phone_region,
    )


def _new_code(session: Session) -> str:
    while True:
        code = "NW-" + "".join(secrets.choice(_CODE_ALPHABET) for _ in range(6))
        taken = session.scalar(
            select(
                exists().where(Identity.kind == "config_code", Identity.value == code)
                | exists().where(Configuration.code == code)
            )
        )
        if not taken:
            return code


def save_configuration(
    session: Session, tablet: TabletSession, *, now: datetime, phone_region: str
) -> str:
    """Save the car as configured under a new code; it is on the customer page at once."""
    require_customer(tablet)
    model, selection = _require_model(tablet)
    code = _new_code(session)
    colour = model.colour(selection.colour)
    send(
        session,
        tablet,
        [
            {
                "type": "track",
                "event": taxonomy.CONFIGURATION_SAVED,
                "properties": {
                    "configuration_code": code,
                    "model": model.name,
                    "trim": model.trim(selection.trim).name,
                    "engine": model.engine(selection.engine).name,
                    "colour": colour.name,
                    "colour_hex": colour.hex,
                    "wheels": model.wheel(selection.wheels).name,
                    "interior": model.interior(selection.interior).name,
                    "body_type": model.body,
                    "fuel": model.engine(selection.engine).fuel,
                    "options": [
                        {"code": pack.code, "label": pack.name, "price": pack.price}
                        for pack in (model.pack(p) for p in selection.packs)
                    ],
                    "total_price": catalogue.price(selection),
                    "currency": CURRENCY,
                    **(
                        {"based_on_code": tablet.selection["based_on"]}
                        if tablet.selection.get("based_on")
                        else {}
                    ),
                    # Codes, so a configurator can open it again.
                    "selection": {
                        "model": selection.model,
                        "trim": selection.trim,
                        "engine": selection.engine,
                        "colour": selection.colour,
                        "wheels": selection.wheels,
                        "interior": selection.interior,
                        "packs": list(selection.packs),
                    },
                },
            }
        ],
        now=now,
        phone_region=phone_region,
    )
    saved = [*tablet.selection.get("saved", []), code]
    tablet.selection = {**tablet.selection, "saved": saved, "saved_car": car_of(tablet)}
    session.flush()
    return code


@dataclass(frozen=True, slots=True)
class SummaryLine:
    step: str
    label: str
    price: int  # what it adds (for the trim: the trim's price)
    hex: str | None = None


@dataclass(frozen=True, slots=True)
class Summary:
    model: Model
    selection: Selection
    lines: list[SummaryLine]
    packs: list[OptionPack]
    total: int


def summary_of(selection: Selection) -> Summary:
    model = catalogue.model_by_code(selection.model)
    colour = model.colour(selection.colour)
    engine = model.engine(selection.engine)
    wheels = model.wheel(selection.wheels)
    interior = model.interior(selection.interior)
    lines = [
        SummaryLine("trim", model.trim(selection.trim).name, model.trim(selection.trim).price),
        SummaryLine("engine", engine.name, engine.price_delta),
        SummaryLine("colour", colour.name, colour.price_delta, colour.hex),
        SummaryLine("wheels", wheels.name, wheels.price_delta),
        SummaryLine("interior", interior.name, interior.price_delta),
    ]
    return Summary(
        model=model,
        selection=selection,
        lines=lines,
        packs=[model.pack(code) for code in selection.packs],
        total=catalogue.price(selection),
    )


def fuels_of(model: Model) -> list[str]:
    """The fuels a model is offered with, in the catalogue's order."""
    return list(dict.fromkeys(engine.fuel for engine in model.engines))
