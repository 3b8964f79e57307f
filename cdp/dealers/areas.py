"""Postal-code areas between dealers: what a dealer's areas do to the other dealers' leads.

Routing (`cdp/leads/routing.py`, `by_postal_code`) gives a lead to the active dealer with the
longest area that starts the customer's postal code; a Dutch code (letters after the digits)
only among Dutch dealers; between equal areas of a Dutch and a Belgian dealer four digits alone
go to the Belgian one, otherwise the lower dealer code wins. So, for the areas a dealer is
given (what is said of another country's area holds for codes typed as four digits alone):

- an area **identical** to another active dealer's is refused: the two would share its leads by
  the order of their codes, not by anyone's choice. A Dutch and a Belgian dealer may hold the
  same digits (2000 in Haarlem and in Antwerpen): routing tells their codes apart by their form;
- an area **inside** another active dealer's (5611 inside 561) takes that part of its leads:
  every code that starts with 5611 now comes to the new area's dealer. Allowed (a town served by
  a nearer dealer), but said before it is saved: asked on the dealers page and by
  `cdp dealer create`, and listed after an import.

An area that holds another dealer's narrower area (56 around 5611) takes nothing: the longer
area keeps its leads. Inactive dealers hold nothing (they get no leads); reactivating one is
checked as adding its areas again.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# The countries whose postal codes routing tells apart by their form when areas are equal.
TOLD_APART = frozenset({"NL", "BE"})


@dataclass(frozen=True, slots=True)
class Holder:
    """An active dealer and the areas it serves."""

    code: str
    name: str
    country: str
    areas: tuple[str, ...]

    @property
    def label(self) -> str:
        return f"{self.code} ({self.name})" if self.name and self.name != self.code else self.code


@dataclass(frozen=True, slots=True)
class Clash:
    """An area another active dealer serves too: refused."""

    area: str
    holder: Holder

    @property
    def message(self) -> str:
        return (
            f"postal-code area {self.area} is already served by {self.holder.label}: "
            "a postal code's leads go to one dealer, so remove it here or there first"
        )


@dataclass(frozen=True, slots=True)
class Takeover:
    """An area inside another active dealer's: its leads come to the new area's dealer."""

    area: str
    holder: Holder
    holder_area: str

    def sentence(self, taker: str = "this dealer") -> str:
        """ "5611 is inside NW-EHV's 561: leads from 5611 will come to this dealer instead"."""
        return (
            f"{self.area} is inside {self.holder.code}'s {self.holder_area}: leads from "
            f"{self.area} will come to {taker} instead"
        )


def told_apart(country: str, other: str) -> bool:
    """Whether routing gives equal areas of dealers of these two countries to each by the
    form of the customer's postal code."""
    return country != other and country in TOLD_APART and other in TOLD_APART


def clashes(areas: Iterable[str], country: str, others: Sequence[Holder]) -> list[Clash]:
    """The areas (in order) that another active dealer serves too, with the first such dealer
    by code."""
    holders: dict[str, list[Holder]] = {}
    for other in sorted(others, key=lambda h: h.code):
        for area in other.areas:
            holders.setdefault(area, []).append(other)
    found: list[Clash] = []
    for area in areas:
        for other in holders.get(area, ()):
            if not told_apart(country, other.country):
                found.append(Clash(area=area, holder=other))
                break
    return found


def takeovers(
    new_areas: Iterable[str],
    *,
    country: str,
    own_areas: Iterable[str],
    others: Sequence[Holder],
) -> list[Takeover]:
    """The new areas (in order) inside another active dealer's area: the dealer whose area is
    the longest that holds it (the one routing gives those leads to now). An area inside one of
    the dealer's own (5611 inside its own 561) takes nothing from anyone."""
    own = set(own_areas)
    holders: dict[str, list[Holder]] = {}
    for other in sorted(others, key=lambda h: h.code):
        for area in other.areas:
            holders.setdefault(area, []).append(other)
    found: list[Takeover] = []
    for area in new_areas:
        for length in range(len(area) - 1, 0, -1):
            prefix = area[:length]
            if prefix in own:
                break  # its own area has these leads already
            around = holders.get(prefix)
            if around:
                # Of equal areas, the dealer of the same country is the likelier one to lose.
                same = [h for h in around if h.country == country]
                found.append(Takeover(area=area, holder=(same or around)[0], holder_area=prefix))
                break
    return found
