"""Changing and deleting saved audiences through the pages, as a marketer's browser does: the
builder shows an audience's rules as they stand, so saving it untouched never widens it (a
segment of an earlier run ticked as the current run's segment it stands for; a segment that is
gone, or a model no one has now, kept and shown); emptying an audience's rules, and deleting
one, is asked once first (no JavaScript needed) and said after; a name over the limit is
refused with the field marked and what was typed kept. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Audience
from tests.helpers import People, SourceKey, StaffClient, make_people, make_run


@pytest.fixture()
def marketer(staff_client: Callable[[str], StaffClient]) -> StaffClient:
    return staff_client("marketing")


@pytest.fixture()
def people(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> People:
    return make_people(app_client, web_source, showroom_source, session_factory)


def page(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def text_of(node: Tag | None) -> str:
    assert node is not None
    return " ".join(node.get_text(" ").split())


def fields_of(form: Tag) -> dict[str, list[str]]:
    """What a browser sends for the form as it stands: its inputs, the boxes and radios ticked."""
    sent: dict[str, list[str]] = {}
    for field in form.select("input[name]"):
        kind = str(field.get("type", "text"))
        if kind in ("submit", "button", "reset"):
            continue
        if kind in ("checkbox", "radio") and not field.has_attr("checked"):
            continue
        sent.setdefault(str(field["name"]), []).append(str(field.get("value", "")))
    return sent


def send(marketer: StaffClient, form: Tag) -> httpx.Response:
    """Press the form's button without changing anything."""
    return marketer.client.post(str(form["action"]), data=fields_of(form), follow_redirects=False)


def builder(marketer: StaffClient, url: str) -> Tag:
    form = page(marketer.client.get(url)).select_one("form#builder")
    assert form is not None
    return form


def ticked(form: Tag, name: str) -> list[str]:
    return [str(box["value"]) for box in form.select(f'input[name="{name}"][checked]')]


def make_audience(factory: sessionmaker[Session], rules: dict[str, Any]) -> tuple[int, str]:
    """An audience as stored (for rules the pages no longer offer, or cannot read)."""
    name = f"Stored {uuid.uuid4().hex[:8]}"
    with factory() as session:
        audience = Audience(name=name, rules=rules)
        session.add(audience)
        session.commit()
        return audience.id, name


def stored_rules(factory: sessionmaker[Session], audience_id: int) -> dict[str, Any] | None:
    with factory() as session:
        audience = session.get(Audience, audience_id)
        return None if audience is None else dict(audience.rules)


def save(marketer: StaffClient, **fields: Any) -> int:
    fields.setdefault("name", f"Audience {uuid.uuid4().hex[:8]}")
    response = marketer.client.post(
        "/segments/audiences",
        data={"csrf_token": marketer.csrf, "consent": "any", "showroom_visit": "any", **fields},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return int(response.headers["location"].split("saved=")[1].split("#")[0])


def row_summary(marketer: StaffClient, audience_id: int) -> list[str]:
    row = page(marketer.client.get("/segments/audiences")).select_one(f"#audience-{audience_id}")
    assert row is not None
    return [text_of(li) for li in row.select(".rule-summary li")]


# --- saving untouched keeps the rules -----------------------------------------------------------
def test_an_audience_of_an_earlier_run_saved_untouched_keeps_its_segment(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    old = make_run(
        session_factory,
        [[people.anna, people.bram], [people.chris]],
        names=["Design fans", "Bargain hunters"],
    )
    audience_id = save(marketer, segment=[str(old.segments[0])])
    # A new run: design is now its segment 2, with other members.
    new = make_run(
        session_factory,
        [[people.chris], [people.anna, people.dana]],
        names=["Price-conscious", "Design-focused"],
        design=[0.1, 0.7],
    )

    form = builder(marketer, f"/segments/audiences?edit={audience_id}")
    # The current run's segment the old one stands for is ticked, and a note says so.
    assert ticked(form, "segment") == [str(new.segments[1])]
    assert (
        f"“Design fans” (run {old.id}) is now “Design-focused” in the current run {new.id}"
        in text_of(form.select_one(".segment-note"))
    )
    assert row_summary(marketer, audience_id) == [f"Segment: Design fans (run {old.id})"]

    saved = send(marketer, form)
    assert saved.status_code == 303, saved.text
    assert stored_rules(session_factory, audience_id) == {"segments": [new.segments[1]]}
    assert row_summary(marketer, audience_id) == ["Segment: Design-focused"]
    lazy = page(marketer.client.get(f"/segments/audiences/{audience_id}/count"))
    assert text_of(lazy.select_one(".count-compact")) == "1 to e-mail of 2"  # Anna and Dana


def test_an_audience_whose_segment_is_gone_is_refused_not_made_everyone(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    make_run(session_factory, [[people.anna], [people.chris]])
    rules = {"segments": [987654321], "models": ["Tundra"]}
    audience_id, name = make_audience(session_factory, rules)

    form = builder(marketer, f"/segments/audiences?edit={audience_id}")
    assert ticked(form, "segment") == ["987654321"]
    assert "no longer exists" in text_of(form.select_one(".segment-note"))
    assert ticked(form, "model") == ["Tundra"]

    refused = send(marketer, form)
    assert refused.status_code == 400
    html = page(refused)
    assert "segment 987654321 does not exist" in text_of(html.select_one("#builder-error"))
    assert stored_rules(session_factory, audience_id) == rules
    # Still shown as it is, ticked, for the marketer to choose again.
    again = html.select_one("form#builder")
    assert again is not None and ticked(again, "segment") == ["987654321"]
    assert text_of(again.select_one("h2")) == f"Change “{name}”"


def test_values_no_one_has_now_stay_ticked_and_are_kept(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    # "Zephyr": no one's latest configuration now; "tundra": offered as "Tundra".
    rules = {"models": ["Zephyr", "tundra"], "colours": ["Cosmic Teal"]}
    audience_id, _ = make_audience(session_factory, rules)
    form = builder(marketer, f"/segments/audiences?edit={audience_id}")
    assert ticked(form, "model") == ["Tundra", "Zephyr"]
    assert ticked(form, "colour") == ["Cosmic Teal"]
    assert send(marketer, form).status_code == 303
    assert stored_rules(session_factory, audience_id) == {
        "models": ["Tundra", "Zephyr"],
        "colours": ["Cosmic Teal"],
    }


def test_emptying_an_audiences_rules_asks_first(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    audience_id = save(marketer, model=["Tundra"], consent="email")
    form = builder(marketer, f"/segments/audiences?edit={audience_id}")
    for box in form.select("input[type=checkbox]"):
        del box["checked"]
    for radio in form.select("input[type=radio]"):
        if radio["value"] == "any":
            radio["checked"] = ""
        elif radio.has_attr("checked"):
            del radio["checked"]

    asked = send(marketer, form)
    assert asked.status_code == 200
    question = page(asked)
    assert text_of(question.select_one("h1")).startswith("Save “")
    assert "for everyone?" in text_of(question.select_one("h1"))
    assert "Model: Tundra" in text_of(question.select_one(".confirm-step"))
    assert stored_rules(session_factory, audience_id) == {"models": ["Tundra"], "consent": "email"}

    confirm = question.select_one(".confirm-step form")
    assert confirm is not None
    assert send(marketer, confirm).status_code == 303
    assert stored_rules(session_factory, audience_id) == {}


def test_rules_that_cannot_be_read_are_said_and_not_replaced_by_everyone_unasked(
    marketer: StaffClient, session_factory: sessionmaker[Session]
) -> None:
    audience_id, _ = make_audience(session_factory, {"models": ["Tundra"], "future_rule": 1})
    html = page(marketer.client.get(f"/segments/audiences?edit={audience_id}"))
    assert "cannot be read" in text_of(html.select_one("#rules-problem"))
    form = html.select_one("form#builder")
    assert form is not None
    asked = send(marketer, form)
    assert asked.status_code == 200 and page(asked).select_one(".confirm-step") is not None
    assert stored_rules(session_factory, audience_id) == {"models": ["Tundra"], "future_rule": 1}


# --- deleting -----------------------------------------------------------------------------------
def test_deleting_an_audience_asks_first_and_says_what_was_deleted(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    name = f"Lumo leads {uuid.uuid4().hex[:6]}"
    audience_id = save(marketer, name=name, model=["Lumo"])
    listing = page(marketer.client.get("/segments/audiences"))
    delete = listing.select_one(f"#audience-{audience_id} form[action$='/delete']")
    assert delete is not None

    asked = send(marketer, delete)
    assert asked.status_code == 200
    question = page(asked)
    assert text_of(question.select_one("h1")) == f"Delete the audience “{name}”?"
    assert "Model: Lumo" in text_of(question.select_one(".confirm-step"))
    assert stored_rules(session_factory, audience_id) == {"models": ["Lumo"]}
    back = question.select_one(".confirm-step a")
    assert back is not None and back["href"] == f"/segments/audiences#audience-{audience_id}"

    confirm = question.select_one(".confirm-step form")
    assert confirm is not None
    assert fields_of(confirm)["confirm"] == ["yes"]
    deleted = send(marketer, confirm)
    assert deleted.status_code == 303
    assert deleted.headers["location"] == "/segments/audiences"
    assert stored_rules(session_factory, audience_id) is None

    after = page(marketer.client.get("/segments/audiences"))
    assert text_of(after.select_one(".flash")) == (
        f"The audience “{name}” was deleted; its exports stay in the export log."
    )
    assert after.select_one(f"#audience-{audience_id}") is None
    # Said once.
    assert page(marketer.client.get("/segments/audiences")).select_one(".flash") is None


def test_deleting_without_the_csrf_token_is_refused_even_confirmed(
    marketer: StaffClient, session_factory: sessionmaker[Session]
) -> None:
    audience_id = save(marketer)
    forged = marketer.client.post(
        f"/segments/audiences/{audience_id}/delete",
        data={"confirm": "yes"},
        follow_redirects=False,
    )
    assert forged.status_code == 403
    assert stored_rules(session_factory, audience_id) == {}


# --- names --------------------------------------------------------------------------------------
def test_a_name_over_the_limit_is_refused_with_the_field_marked_and_kept(
    marketer: StaffClient, session_factory: sessionmaker[Session]
) -> None:
    typed = "Nieuwsbrief" + "x" * 4989  # 5,000 characters, one word
    form = builder(marketer, "/segments/audiences")
    field = form.select_one("#audience-name")
    assert field is not None and not field.has_attr("maxlength")  # never cut short unsaid

    refused = marketer.client.post(
        "/segments/audiences",
        data={"csrf_token": marketer.csrf, "name": typed, "model": ["Tundra"]},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    html = page(refused)
    assert "at most 200 characters" in text_of(html.select_one("#builder-error"))
    field = html.select_one("#audience-name")
    assert field is not None
    assert field["aria-invalid"] == "true" and field["value"] == typed
    form = html.select_one("form#builder")
    assert form is not None and ticked(form, "model") == ["Tundra"]
    with session_factory() as session:
        found = session.scalars(select(Audience).where(Audience.name.like("Nieuwsbrief%")))
        assert found.all() == []

    # Changing a saved audience: the same, and the heading keeps the audience's own name.
    audience_id = save(marketer, name="Short name")
    changed = marketer.client.post(
        f"/segments/audiences/{audience_id}",
        data={"csrf_token": marketer.csrf, "name": typed},
        follow_redirects=False,
    )
    assert changed.status_code == 400
    html = page(changed)
    assert text_of(html.select_one("form#builder h2")) == "Change “Short name”"
    assert html.select_one("#audience-name")["value"] == typed  # type: ignore[index]
    with session_factory() as session:
        assert session.get_one(Audience, audience_id).name == "Short name"
