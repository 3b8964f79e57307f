"""Plain-language names and descriptions for segments, from what sets each one apart.

A segment's centroid (its feature means) is compared with everyone clustered, feature by
feature, in standard deviations (z-scores). The name is built from the strongest differences:
what they focus on in the configurator, the car (electric, body type), then up to two of budget,
engagement and intent: "Design-focused SUV shoppers, high budget, returning". The description
spells the biggest differences out with the numbers. Names are unique within a run; a marketer
can rename a segment (`Segment.custom_name`), which never changes the generated name.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from cdp.text import plural
from segmentation.features import BODY_COLUMNS, INTEREST_COLUMNS

NOTABLE = 0.5  # |z| from which a difference makes it into a name
MENTION = 0.3  # |z| from which a difference is mentioned in the description
MAX_QUALIFIERS = 2

_FOCUS = {
    "design_share": "Design-focused",
    "performance_share": "Performance-focused",
    "comfort_safety_share": "Comfort-and-safety-minded",
    "price_finance_share": "Price-conscious",
}
_BODY = {
    "suv_share": "SUV",
    "estate_share": "estate",
    "sedan_share": "sedan",
    "hatchback_share": "hatchback",
}
# Qualifiers after the comma: (feature, when high, when low).
_QUALIFIERS: tuple[tuple[str, str | None, str | None], ...] = (
    ("price_k", "high budget", "tight budget"),
    ("sessions", "returning", "single visit"),
    ("recency_days", "gone quiet", "recently active"),
    ("test_drive", "test-drive takers", None),
    ("quote_requested", "asking for quotes", None),
    ("showroom_visits", "showroom visitors", None),
    ("lead_stage", "in talks with sales", None),
    ("saved_configurations", "savers", "not saving"),
    ("finance_interest", "exploring finance", None),
    ("trade_in_interest", "with a trade-in", None),
    ("steps_reached", "thorough", "browsing"),
    ("frequency_per_week", "in a hurry", None),
)
_PHRASES = {
    "design_share": "{v:.0%} of their configurator attention on design (all: {o:.0%})",
    "performance_share": "{v:.0%} of their attention on performance (all: {o:.0%})",
    "comfort_safety_share": "{v:.0%} of their attention on comfort and safety (all: {o:.0%})",
    "price_finance_share": "{v:.0%} of their attention on price and finance (all: {o:.0%})",
    "price_k": "configure for €{v:.0f}k on average (all: €{o:.0f}k)",
    "suv_share": "{v:.0%} of what they configure is an SUV (all: {o:.0%})",
    "estate_share": "{v:.0%} of what they configure is an estate (all: {o:.0%})",
    "sedan_share": "{v:.0%} of what they configure is a sedan (all: {o:.0%})",
    "hatchback_share": "{v:.0%} of what they configure is a hatchback (all: {o:.0%})",
    "electric_share": "{v:.0%} of what they configure is electric (all: {o:.0%})",
    "steps_reached": "reach step {v:.1f} of 8 in the configurator (all: {o:.1f})",
    "configurator_events": "{v:.0f} configurator {clicks} each (all: {o:.0f})",
    "saved_configurations": "{v:.1f} saved configurations each (all: {o:.1f})",
    "sessions": "{v:.1f} visits each (all: {o:.1f})",
    "recency_days": "last seen {v:.0f} {days} ago on average (all: {o:.0f})",
    "frequency_per_week": "{v:.1f} visits a week while active (all: {o:.1f})",
    "showroom_visits": "{v:.2f} showroom visits each (all: {o:.2f})",
    "test_drive": "{v:.0%} asked for a test drive (all: {o:.0%})",
    "finance_interest": "{v:.0%} looked into financing (all: {o:.0%})",
    "trade_in_interest": "{v:.0%} looked into a trade-in (all: {o:.0%})",
    "quote_requested": "{v:.0%} asked for a quote (all: {o:.0%})",
    "lead_stage": "lead stage {v:.1f} of 6 on average (all: {o:.1f})",
}


@dataclass(frozen=True, slots=True)
class SegmentText:
    name: str
    description: str
    z: dict[str, float]  # per feature: how far the segment's mean is from everyone's, in SDs


def z_scores(
    centroids: npt.NDArray[np.float64],
    overall_mean: npt.NDArray[np.float64],
    overall_std: npt.NDArray[np.float64],
) -> npt.NDArray[np.float64]:
    """(centroid - mean) / std per feature; 0 where a feature does not vary."""
    spread = np.where(overall_std > 1e-9, overall_std, np.inf)
    return (centroids - overall_mean) / spread


def name_segments(
    centroids: npt.NDArray[np.float64],
    overall_mean: npt.NDArray[np.float64],
    overall_std: npt.NDArray[np.float64],
    columns: Sequence[str],
    sizes: Sequence[int],
) -> list[SegmentText]:
    """A name and description for each segment (row of `centroids`), names unique."""
    z = z_scores(centroids, overall_mean, overall_std)
    total = max(sum(sizes), 1)
    texts: list[tuple[str, list[str], str]] = []
    for row in range(len(centroids)):
        zs = dict(zip(columns, z[row].tolist(), strict=True))
        values = dict(zip(columns, centroids[row].tolist(), strict=True))
        overall = dict(zip(columns, overall_mean.tolist(), strict=True))
        head = _head(zs, values)
        qualifiers = _qualifiers(zs)
        texts.append((head, qualifiers, _describe(zs, values, overall, sizes[row], total)))
    names = _unique([(head, qualifiers) for head, qualifiers, _ in texts])
    return [
        SegmentText(
            name=name,
            description=description,
            z={c: round(v, 3) for c, v in zip(columns, z[row].tolist(), strict=True)},
        )
        for row, (name, (_, _, description)) in enumerate(zip(names, texts, strict=True))
    ]


def _head(z: Mapping[str, float], values: Mapping[str, float]) -> str:
    """ "Design-focused electric SUV shoppers": focus, fuel and body type where they stand out."""
    focus_column = max(INTEREST_COLUMNS, key=lambda c: z.get(c, 0.0))
    focus = _FOCUS[focus_column] if z.get(focus_column, 0.0) >= NOTABLE else "All-round"
    body_column = max(BODY_COLUMNS, key=lambda c: z.get(c, 0.0))
    car = ""
    body_z, body_share = z.get(body_column, 0.0), values.get(body_column, 0.0)
    if (body_z >= NOTABLE and body_share >= 0.35) or (body_z >= MENTION and body_share >= 0.5):
        car = _BODY[body_column] + " "
    if z.get("electric_share", 0.0) >= NOTABLE and values.get("electric_share", 0.0) >= 0.5:
        car = "electric " + car
    elif z.get("electric_share", 0.0) <= -NOTABLE and values.get("electric_share", 1.0) <= 0.2:
        car = "petrol and hybrid " + car
    return f"{focus} {car}shoppers"


def _qualifiers(z: Mapping[str, float]) -> list[str]:
    """Every qualifier that applies, strongest first."""
    found: list[tuple[float, str]] = []
    for column, high, low in _QUALIFIERS:
        score = z.get(column, 0.0)
        if score >= NOTABLE and high:
            found.append((score, high))
        elif score <= -NOTABLE and low:
            found.append((-score, low))
    found.sort(key=lambda pair: -pair[0])
    return [text for _, text in found]


def _unique(parts: list[tuple[str, list[str]]]) -> list[str]:
    """Names from heads and qualifiers; where two would be equal, add qualifiers, then numbers."""
    shown = [min(MAX_QUALIFIERS, len(qualifiers)) for _, qualifiers in parts]

    def name(i: int) -> str:
        head, qualifiers = parts[i]
        return ", ".join([head, *qualifiers[: shown[i]]])

    while True:
        seen: dict[str, list[int]] = {}
        for i in range(len(parts)):
            seen.setdefault(name(i), []).append(i)
        clashes = [rows for rows in seen.values() if len(rows) > 1]
        grown = False
        for rows in clashes:
            for i in rows:
                if shown[i] < len(parts[i][1]):
                    shown[i] += 1
                    grown = True
        if not grown:
            break
    names = [name(i) for i in range(len(parts))]
    clashing = {text for text in names if names.count(text) > 1}
    counts: dict[str, int] = {}
    for i, text in enumerate(names):
        if text in clashing:
            counts[text] = counts.get(text, 0) + 1
            names[i] = f"{text} ({counts[text]})"
    return names


def _describe(
    z: Mapping[str, float],
    values: Mapping[str, float],
    overall: Mapping[str, float],
    size: int,
    total: int,
) -> str:
    standing_out = sorted(
        (column for column in _PHRASES if abs(z.get(column, 0.0)) >= MENTION),
        key=lambda column: -abs(z[column]),
    )[:5]
    who = f"{size} {plural(size, 'profile')} ({size / total:.0%} of those clustered)."
    if not standing_out:
        return f"{who} Close to the average on every feature."
    details = "; ".join(
        _PHRASES[column].format(
            v=values[column],
            o=overall[column],
            # The noun after a whole number: "1 day", "1 click" (a mean rounded to one).
            days=plural(round(values[column]), "day"),
            clicks=plural(round(values[column]), "click"),
        )
        for column in standing_out
    )
    return f"{who} What sets them apart: {details}."
