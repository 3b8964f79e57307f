"""What a segment's card summarises: its members' top models, colours and body types, and how
many may be e-mailed; counted when a run stores its segments.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy.orm import Session

from cdp import catalogue
from cdp.models import Segment
from segmentation import repository as repo
from segmentation.features import FeatureMatrix


def store_summaries(
    session: Session, matrix: FeatureMatrix, labels: npt.NDArray[np.int32], numbers: dict[int, int]
) -> None:
    """Per segment: the top models, colours and body types of members' saved configurations
    (a member counts once per value) and how many have e-mail consent in force. Counted from
    what the features read (`FeatureMatrix.facts`), not from the stored memberships."""
    facts = matrix.facts
    assert facts is not None
    k = len(numbers)
    rows = facts.configuration_rows
    models = _top_per_segment(labels, k, rows, facts.models, facts.model_names)
    colours = _top_per_segment(labels, k, rows, facts.colours, facts.colour_names)
    values = _top_per_segment(labels, k, rows, facts.bodies, facts.body_values, limit=None)
    consent = np.bincount(labels[facts.email_rows], minlength=k)
    colour_hex = _colour_hexes(session, colours)
    for label in range(k):
        segment = session.get(Segment, numbers[label + 1])
        assert segment is not None
        size = max(segment.size, 1)

        def share(count: int, size: int = size) -> float:
            return round(count / size, 4)

        body_counts: dict[str, int] = {}
        for value, count in values[label]:
            body = _body_type(value)
            if body:
                body_counts[body] = body_counts.get(body, 0) + count
        consented = int(consent[label])
        segment.summary = {
            "models": [
                {"name": name, "profiles": count, "share": share(count)}
                for name, count in models[label]
            ],
            "colours": [
                {
                    "name": name,
                    "hex": colour_hex.get(name),
                    "profiles": count,
                    "share": share(count),
                }
                for name, count in colours[label]
            ],
            "body_types": [
                {"name": body, "profiles": count, "share": share(count)}
                for body, count in sorted(body_counts.items(), key=lambda item: -item[1])
            ],
            "email_consent": {"profiles": consented, "share": share(consented)},
        }
    session.flush()


def _top_per_segment(
    labels: npt.NDArray[np.int32],
    k: int,
    rows: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64],
    names: Sequence[str],
    *,
    limit: int | None = 5,
) -> dict[int, list[tuple[str, int]]]:
    """Per segment (by label): the values its members have (`codes` index `names`; -1: none),
    each with how many members have it (a member counts once per value), most first, then by
    value; the first `limit`."""
    width = max(len(names), 1)
    known = codes >= 0
    pairs = np.unique(rows[known] * width + codes[known])  # one per member and value
    segment = labels[pairs // width].astype(np.int64)
    counts = np.bincount(segment * width + pairs % width, minlength=k * width).reshape(k, width)
    top: dict[int, list[tuple[str, int]]] = {}
    for label in range(k):
        found = [(names[int(c)], int(counts[label, c])) for c in np.flatnonzero(counts[label])]
        found.sort(key=lambda item: (-item[1], item[0]))
        top[label] = found[:limit] if limit is not None else found
    return top


def _colour_hexes(session: Session, colours: dict[int, list[tuple[str, int]]]) -> dict[str, str]:
    """A swatch per colour name: as configurations recorded it, else from the catalogue."""
    names = {name for values in colours.values() for name, _count in values}
    found = {
        colour.name: colour.hex
        for model in catalogue.MODELS
        for colour in model.colours
        if colour.name in names
    }
    found.update(repo.colour_swatches(session, sorted(names)))
    return found


def _body_type(value: str) -> str | None:
    """A configuration's body type, or its model's in the catalogue."""
    if value in ("suv", "compact_suv", "estate", "sedan", "hatchback"):
        return value
    for model in catalogue.MODELS:
        if value in (model.code, model.name.lower()):
            return model.body
    return None
