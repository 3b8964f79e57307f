"""The audience builder's choices count people by their latest saved configuration, the one
the rules look at, not every configuration ever saved. Runs on both databases."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

from bs4 import BeautifulSoup
from fastapi.testclient import TestClient

from cdp.models import utcnow
from tests.helpers import SourceKey, StaffClient, iso, send


def saves(client: TestClient, source: SourceKey, cars: list[tuple[str, str]]) -> None:
    """One visitor saving these (model, colour) configurations, one after the other."""
    device = str(uuid.uuid4())
    start = utcnow() - timedelta(hours=3)
    for n, (model, colour) in enumerate(cars):
        send(client, source, "track", {
            "anonymousId": device, "event": "Configuration Saved",
            "timestamp": iso(start + timedelta(minutes=n)),
            "properties": {"configuration_code": f"NW-{uuid.uuid4().hex[:6].upper()}",
                           "model": model, "colour": colour},
        })  # fmt: skip


def choice_counts(page: BeautifulSoup, field: str) -> dict[str, str]:
    counts = {}
    for label in page.select("label.choice"):
        box = label.select_one(f'input[name="{field}"]')
        if box is not None:
            count = label.select_one(".sub")
            counts[str(box["value"])] = count.get_text() if count else ""
    return counts


def test_model_and_colour_choices_count_people_by_their_latest_configuration(
    app_client: TestClient,
    web_source: SourceKey,
    staff_client: Callable[[str], StaffClient],
) -> None:
    saves(app_client, web_source, [("Lumo", "Lava Red"), ("Vela", "Glacier White")])
    saves(app_client, web_source, [("Lumo", "Lava Red"), ("Lumo", "lava red")])
    saves(app_client, web_source, [("Lumo", "Deep Blue")])
    page = BeautifulSoup(
        staff_client("marketing").client.get("/segments/audiences").text, "html.parser"
    )
    assert choice_counts(page, "model") == {"Lumo": "2", "Vela": "1"}
    assert choice_counts(page, "colour") == {
        "Deep Blue": "1",
        "Glacier White": "1",
        "lava red": "1",
    }
