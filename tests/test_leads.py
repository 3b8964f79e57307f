"""Lead follow-up through the pages: stages with who and when, two-tap contact logging, the
"my leads" order, structured notes, and what each role may see. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from bs4 import Tag
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.leads import service
from cdp.leads import stages as lead_stages
from cdp.local_time import to_local
from cdp.models import (
    LOST_REASONS,
    ContactAttempt,
    Delivery,
    Lead,
    LeadStageChange,
    Note,
    ProfileSearch,
    ProfileTrait,
    utcnow,
)
from tests.helpers import (
    CALENDAR_ENDS,
    HOSTILE_IDS,
    SourceKey,
    StaffClient,
    count,
    field_error_text,
    get_lead,
    make_customer,
    only_lead,
    post,
    sign_in,
    soup,
    text_at,
    user_id,
)


# --- tests ------------------------------------------------------------------------------------
def test_creating_a_lead_and_changing_its_stage_records_who_and_when(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    me = user_id(session_factory, sales.email)
    pid = make_customer(sales.client, web_source, session_factory)
    before = utcnow()

    response = post(
        sales, f"/showroom/customers/{pid}/leads", {"channel": "phone", "model": "Aurora"}
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/showroom/customers/{pid}"
    lead = only_lead(session_factory, pid)
    assert (lead.stage, lead.channel, lead.model, lead.assigned_user_id) == (
        "new",
        "phone",
        "Aurora",
        me,
    )

    response = post(sales, f"/showroom/leads/{lead.id}/stage", {"stage": "reached"})
    assert response.status_code == 303
    with session_factory() as session:
        changes = session.scalars(
            select(LeadStageChange)
            .where(LeadStageChange.lead_id == lead.id)
            .order_by(LeadStageChange.id)
        ).all()
        search = session.get(ProfileSearch, pid)
    assert [(c.from_stage, c.to_stage, c.changed_by_user_id) for c in changes] == [
        (None, "new", me),
        ("new", "reached", me),
    ]
    assert all(before - timedelta(seconds=5) <= c.changed_at <= utcnow() for c in changes)
    assert search is not None and search.lead_stage == "reached"  # lookup shows the stage

    page = soup(sales.client.get(f"/showroom/customers/{pid}").text)
    assert "reached" in page.get_text(" ")


def test_lost_needs_a_reason_and_a_refused_form_changes_nothing(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "walk_in"})
    lead = only_lead(session_factory, pid)
    changes = count(session_factory, LeadStageChange, LeadStageChange.lead_id == lead.id)

    response = post(sales, f"/showroom/leads/{lead.id}/stage", {"stage": "lost", "lost_reason": ""})
    assert response.status_code == 400
    html = response.text
    assert "Say why the lead was lost" in field_error_text(html)
    reason = soup(html).select_one(f"#lead-{lead.id} select[name=lost_reason]")
    assert reason is not None and reason.get("aria-invalid") == "true"
    chosen = soup(html).select_one(f"#lead-{lead.id} select[name=stage] option[selected]")
    assert chosen is not None and chosen["value"] == "lost"  # what was chosen is kept

    response = post(
        sales,
        f"/showroom/leads/{lead.id}/stage",
        {"stage": "lost", "lost_reason": "bought_elsewhere", "lost_detail": ""},
    )
    assert response.status_code == 400
    assert "which brand or dealer" in field_error_text(response.text)

    assert get_lead(session_factory, lead.id).stage == "new"
    assert count(session_factory, LeadStageChange, LeadStageChange.lead_id == lead.id) == changes

    response = post(
        sales,
        f"/showroom/leads/{lead.id}/stage",
        {
            "stage": "lost",
            "lost_reason": "bought_elsewhere",
            "lost_detail": "Kia, Autohaus Noord",
            "confirm": "yes",
        },
    )
    assert response.status_code == 303
    lost = get_lead(session_factory, lead.id)
    assert (lost.stage, lost.lost_reason, lost.lost_detail) == (
        "lost",
        "bought_elsewhere",
        "Kia, Autohaus Noord",
    )


def test_forms_without_the_csrf_token_or_session_change_nothing(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    app_client: TestClient,
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    lead = only_lead(session_factory, pid)

    for url, data in (
        (f"/showroom/leads/{lead.id}/stage", {"stage": "reached"}),
        (f"/showroom/leads/{lead.id}/contact", {"method": "call", "outcome": "reached"}),
        (f"/showroom/customers/{pid}/leads", {"channel": "phone"}),
        (f"/showroom/customers/{pid}/notes", {"interest_level": "hot"}),
    ):
        response = sales.client.post(url, data=data, follow_redirects=False)
        assert response.status_code == 403, url
        assert "did not come from this site" in response.text
        forged = sales.client.post(
            url, data={**data, "csrf_token": "forged"}, follow_redirects=False
        )
        assert forged.status_code == 403, url

    app_client.cookies.clear()  # an expired or ended session: sent to sign in, nothing stored
    response = app_client.post(
        f"/showroom/leads/{lead.id}/stage",
        data={"stage": "reached", "csrf_token": sales.csrf},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/login?next=")
    htmx = app_client.post(
        f"/showroom/leads/{lead.id}/stage",
        data={"stage": "reached", "csrf_token": sales.csrf},
        headers={"HX-Request": "true"},
        follow_redirects=False,
    )
    assert htmx.headers["HX-Redirect"].startswith("/login")

    assert get_lead(session_factory, lead.id).stage == "new"
    assert count(session_factory, Lead, Lead.profile_id == pid) == 1
    assert count(session_factory, ContactAttempt, ContactAttempt.lead_id == lead.id) == 0
    assert count(session_factory, Note, Note.profile_id == pid) == 0


def test_unknown_customers_and_leads_are_a_clear_404(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    sales = staff_client("sales")
    nobody = uuid.uuid4()
    for path in (
        f"/showroom/customers/{nobody}/deal",
        "/showroom/customers/not-a-uuid/deal",
        "/showroom/leads/999999/contact",
        "/showroom/leads/abc/contact",
    ):
        response = sales.client.get(path)
        assert response.status_code == 404, path
        assert "There is no" in soup(response.text).get_text(" ")
    for path, data in (
        (f"/showroom/customers/{nobody}/leads", {"channel": "phone"}),
        ("/showroom/customers/not-a-uuid/leads", {"channel": "phone"}),
        (f"/showroom/customers/{nobody}/notes", {"interest_level": "hot"}),
        ("/showroom/leads/999999/stage", {"stage": "reached"}),
    ):
        response = post(sales, path, data)
        assert response.status_code == 404, path
        assert "There is no" in response.text
    assert count(session_factory, Lead) == 0
    assert count(session_factory, Note) == 0


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_lead_links_with_impossible_ids_are_a_404(
    staff_client: Callable[[str], StaffClient], bad: str
) -> None:
    manager = staff_client("manager")
    response = manager.client.get(f"/showroom/leads/{bad}/contact")
    assert response.status_code == 404
    assert "There is no lead" in soup(response.text).get_text(" ")
    for action, data in (
        ("stage", {"stage": "reached"}),
        ("next-action", {"next_action": "Call", "next_action_date": "2030-01-01"}),
        ("assign", {"assigned_user_id": "none"}),
        ("contact", {"method": "call", "outcome": "reached"}),
    ):
        response = post(manager, f"/showroom/leads/{bad}/{action}", data)
        assert response.status_code == 404, action
        assert "There is no lead" in response.text, action


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_impossible_salesperson_ids_and_page_numbers_are_refused_or_ignored(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    bad: str,
) -> None:
    manager = staff_client("manager")
    pid = make_customer(manager.client, web_source, session_factory)
    refused = post(
        manager,
        f"/showroom/customers/{pid}/leads",
        {"channel": "phone", "assigned_user_id": bad},
    )
    assert refused.status_code == 400
    assert "Choose a salesperson from the list" in field_error_text(refused.text)
    assert count(session_factory, Lead, Lead.profile_id == pid) == 0

    post(manager, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    lead = only_lead(session_factory, pid)
    refused = post(manager, f"/showroom/leads/{lead.id}/assign", {"assigned_user_id": bad})
    assert refused.status_code == 400
    assert "Choose a salesperson from the list" in refused.text
    assert get_lead(session_factory, lead.id).assigned_user_id == lead.assigned_user_id

    for query in (f"who={bad}", f"page={bad}", f"who=all&page={bad}"):
        response = manager.client.get(f"/showroom/leads?{query}")
        assert response.status_code == 200, query
        assert soup(response.text).select_one("h1") is not None


def test_an_invalid_new_lead_is_shown_again_with_the_reason(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    response = post(
        sales, f"/showroom/customers/{pid}/leads", {"channel": "carrier_pigeon", "model": "Nova"}
    )
    assert response.status_code == 400
    html = response.text
    assert "Choose the channel" in field_error_text(html)
    model = soup(html).select_one(".lead-form input[name=model]")
    assert model is not None and model["value"] == "Nova"
    assert count(session_factory, Lead, Lead.profile_id == pid) == 0


def test_two_taps_log_a_contact_and_move_a_new_lead_along(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory, first_name="Joris")
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "website"})
    lead = only_lead(session_factory, pid)

    listing = soup(sales.client.get("/showroom/leads").text)
    methods = listing.select(f"#contact-{lead.id} a.tap")
    assert [a.get_text(strip=True) for a in methods] == ["Call", "E-mail", "WhatsApp", "SMS"]
    call = methods[0]
    assert call["hx-target"] == f"#contact-{lead.id}"

    # Tap one: the outcome buttons, swapped in by htmx (a partial, not a page).
    partial = sales.client.get(str(call["hx-get"]), headers={"HX-Request": "true"})
    assert partial.status_code == 200
    assert "<html" not in partial.text
    form = soup(partial.text).select_one("form")
    assert form is not None and form["action"] == f"/showroom/leads/{lead.id}/contact"
    hidden = {str(i["name"]): str(i["value"]) for i in form.select("input[type=hidden]")}
    assert hidden["csrf_token"] == sales.csrf and hidden["method"] == "call"
    outcomes = [b["value"] for b in form.select("button[name=outcome]")]
    assert outcomes == ["reached", "no_answer", "voicemail", "wrong_number", "replied"]
    # Without JavaScript the same link is a page of its own.
    full = sales.client.get(str(call["href"]))
    assert full.status_code == 200 and "<html" in full.text

    # Tap two: no answer.
    response = post(
        sales,
        f"/showroom/leads/{lead.id}/contact",
        {"method": "call", "outcome": "no_answer", "next": hidden["next"]},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith(f"/showroom/leads/{lead.id}/contact/logged?")
    assert response.headers["location"].endswith("&next=/showroom/leads")
    assert get_lead(session_factory, lead.id).stage == "attempted"

    response = post(
        sales, f"/showroom/leads/{lead.id}/contact", {"method": "whatsapp", "outcome": "replied"}
    )
    assert get_lead(session_factory, lead.id).stage == "reached"
    with session_factory() as session:
        attempts = session.scalars(
            select(ContactAttempt).where(ContactAttempt.lead_id == lead.id)
        ).all()
        stages = session.scalars(
            select(LeadStageChange.to_stage)
            .where(LeadStageChange.lead_id == lead.id)
            .order_by(LeadStageChange.id)
        ).all()
    assert sorted((a.method, a.outcome) for a in attempts) == [
        ("call", "no_answer"),
        ("whatsapp", "replied"),
    ]
    assert list(stages) == ["new", "attempted", "reached"]

    bad = post(sales, f"/showroom/leads/{lead.id}/contact", {"method": "call", "outcome": "maybe"})
    assert bad.status_code == 400
    assert "Choose what came of it" in bad.text
    assert count(session_factory, ContactAttempt, ContactAttempt.lead_id == lead.id) == 2


def test_my_leads_puts_what_needs_action_first(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    me = user_id(session_factory, sales.email)
    now = utcnow()
    names = [
        "Olga Older",
        "Nora Newer",
        "Otto Overdue",
        "Lars Later",
        "Sam Sooner",
        "Nina Idle",
        "Sol Sold",
    ]
    profiles = {
        name: make_customer(
            sales.client,
            web_source,
            session_factory,
            first_name=name.split()[0],
            last_name=name.split()[-1],
            model=None,
        )
        for name in names
    }
    with session_factory() as session:

        def lead(name: str, age: timedelta) -> Lead:
            return service.create_lead(
                session,
                profile_id=profiles[name],
                channel="website",
                assigned_user_id=me,
                created_by_user_id=me,
                now=now - age,
            )

        lead("Olga Older", timedelta(days=3))
        lead("Nora Newer", timedelta(hours=3))
        for name, due in (
            ("Otto Overdue", now - timedelta(minutes=30)),
            ("Lars Later", now + timedelta(days=2)),
            ("Sam Sooner", now + timedelta(hours=4)),
        ):
            worked = lead(name, timedelta(days=5))
            lead_stages.change_stage(
                session, lead=worked, to_stage="reached", by_user_id=me, now=now
            )
            service.set_next_action(
                session, lead=worked, action=f"call {name}", due_at=due, now=now
            )
        idle = lead("Nina Idle", timedelta(days=9))
        lead_stages.change_stage(session, lead=idle, to_stage="quote", by_user_id=me, now=now)
        sold = lead("Sol Sold", timedelta(days=20))
        lead_stages.change_stage(session, lead=sold, to_stage="sold", by_user_id=me, now=now)
        someone_elses = service.create_lead(
            session, profile_id=profiles["Sol Sold"], channel="phone", created_by_user_id=None
        )
        assert someone_elses.assigned_user_id is None
        session.commit()

    page = soup(sales.client.get("/showroom/leads").text)
    rows = page.select("li.lead-row")
    shown = [text_at(row, "a.customer") for row in rows]
    assert shown == [
        "Olga Older",
        "Nora Newer",
        "Otto Overdue",
        "Sam Sooner",
        "Lars Later",
        "Nina Idle",
    ]
    ages = [text_at(row, ".age") for row in rows[:2]]
    assert ages == ["3 days", "3 h"]
    assert "Overdue" in text_at(rows[2], ".lead-next")
    assert "is-overdue" in rows[2]["class"]
    link = rows[0].select_one("a.customer")
    assert link is not None and link["href"] == f"/showroom/customers/{profiles['Olga Older']}"
    # The unassigned lead is not in "my leads", but the list says it is waiting.
    notice = page.select_one(".notice")
    assert notice is not None and "1 open lead is not assigned" in notice.get_text(" ")
    pool = soup(sales.client.get("/showroom/leads?who=unassigned").text)
    assert len(pool.select("li.lead-row")) == 1
    assert pool.select_one("li.lead-row form.assign button") is not None  # take it

    htmx = sales.client.get("/showroom/leads", headers={"HX-Request": "true"})
    assert htmx.status_code == 200 and "<html" not in htmx.text
    assert len(soup(htmx.text).select("li.lead-row")) == 6


def test_my_leads_pages_and_empty_state(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    empty = soup(sales.client.get("/showroom/leads").text)
    assert empty.select_one(".empty-state") is not None
    assert "No open leads for you" in empty.get_text(" ")

    me = user_id(session_factory, sales.email)
    pid = make_customer(sales.client, web_source, session_factory, model=None)
    with session_factory() as session:
        for _ in range(service.PER_PAGE + 3):
            service.create_lead(
                session,
                profile_id=pid,
                channel="event",
                assigned_user_id=me,
                created_by_user_id=me,
            )
        session.commit()
    first = soup(sales.client.get("/showroom/leads").text)
    assert len(first.select("li.lead-row")) == service.PER_PAGE
    assert "Page 1 of 2" in first.get_text(" ")
    second = soup(sales.client.get("/showroom/leads?who=mine&page=2").text)
    assert len(second.select("li.lead-row")) == 3


def test_roles_see_only_what_they_need(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    app_client: TestClient,
) -> None:
    marketing = staff_client("marketing")
    for path in ("/showroom/leads", "/showroom/today", "/showroom/deliveries"):
        response = marketing.client.get(path)
        assert response.status_code == 403, path
        assert "does not give access" in response.text
    pid = make_customer(marketing.client, web_source, session_factory)
    response = post(marketing, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    assert response.status_code == 403
    assert count(session_factory, Lead) == 0

    delivery = staff_client("delivery")
    assert delivery.client.get("/showroom/leads").status_code == 403
    assert delivery.client.get(f"/showroom/customers/{pid}/deal").status_code == 403

    sales = staff_client("sales")
    assert sales.client.get("/showroom/leads?who=all").status_code == 403
    sales_id = user_id(session_factory, sales.email)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    lead = only_lead(session_factory, pid)

    manager = staff_client("manager")
    everyone = soup(manager.client.get("/showroom/leads").text)
    assert [a.get_text(strip=True) for a in everyone.select("li.lead-row a.customer")] == [
        "Sanne de Vries"
    ]
    assert text_at(everyone, "h1") == "Leads"
    filtered = soup(manager.client.get(f"/showroom/leads?who={sales_id}").text)
    assert len(filtered.select("li.lead-row")) == 1
    mine = soup(manager.client.get("/showroom/leads?who=mine").text)
    assert len(mine.select("li.lead-row")) == 0

    # A manager hands the lead to another salesperson (with a reason); a salesperson cannot.
    other_email = staff_client("sales").email
    other = user_id(session_factory, other_email)
    manager_csrf = sign_in(app_client, manager.email)
    response = app_client.post(
        f"/showroom/leads/{lead.id}/assign",
        data={"csrf_token": manager_csrf, "assigned_user_id": str(other), "reason": "holiday"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert get_lead(session_factory, lead.id).assigned_user_id == other
    sales_csrf = sign_in(app_client, sales.email)
    response = app_client.post(
        f"/showroom/leads/{lead.id}/assign",
        data={"csrf_token": sales_csrf, "assigned_user_id": str(sales_id)},
        follow_redirects=False,
    )
    assert response.status_code == 403
    assert get_lead(session_factory, lead.id).assigned_user_id == other


def test_a_structured_note_becomes_traits_marketing_can_use(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)

    bad = post(
        sales,
        f"/showroom/customers/{pid}/notes",
        {"interest_level": "hot", "trade_in_year": "1890", "text": "wants the red one"},
    )
    assert bad.status_code == 400
    html = bad.text
    assert "trade-in year must be between 1950" in field_error_text(html)
    text = soup(html).select_one(".note-form textarea[name=text]")
    assert text is not None and text.get_text() == "wants the red one"
    empty = post(sales, f"/showroom/customers/{pid}/notes", {})
    assert empty.status_code == 400
    assert "The note is empty" in empty.text
    assert count(session_factory, Note, Note.profile_id == pid) == 0

    response = post(
        sales,
        f"/showroom/customers/{pid}/notes",
        {
            "interest_level": "hot",
            "budget_band": "40k_60k",
            "timeframe": "within_3_months",
            "trade_in_make": "Volkswagen",
            "trade_in_model": "Golf",
            "trade_in_year": "2017",
            "trade_in_km": "98.500",
            "financing_interest": "yes",
            "competitor": "Kia EV6",
            "model_direction": "higher",
            "text": "Still considering the more expensive model.",
        },
    )
    assert response.status_code == 303
    with session_factory() as session:
        note = session.scalars(select(Note).where(Note.profile_id == pid)).one()
        traits = {
            t.name: t.value
            for t in session.scalars(
                select(ProfileTrait).where(
                    ProfileTrait.profile_id == pid, ProfileTrait.name.like("note_%")
                )
            )
        }
    assert (note.trade_in_km, note.financing_interest, note.user_id) == (
        98500,
        True,
        user_id(session_factory, sales.email),
    )
    assert traits == {
        "note_interest_level": "hot",
        "note_budget_band": "40k_60k",
        "note_timeframe": "within_3_months",
        "note_trade_in": {"make": "Volkswagen", "model": "Golf", "year": 2017, "km": 98500},
        "note_financing_interest": True,
        "note_competitor": "Kia EV6",
        "note_model_direction": "higher",
    }
    deal = soup(sales.client.get(f"/showroom/customers/{pid}/deal").text)
    assert "Still considering the more expensive model." in text_at(deal, ".notes")


def test_a_form_whose_next_page_holds_any_character_is_saved_and_goes_there(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    """A header holds Latin-1 only: a euro sign in `next` made the note a 500, and lost it."""
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    response = post(
        sales,
        f"/showroom/customers/{pid}/notes",
        {"text": "Asked about the €500 trade-in bonus.", "next": f"/showroom/customers/{pid}?€"},
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/showroom/customers/{pid}?%E2%82%AC"
    assert count(session_factory, Note, Note.profile_id == pid) == 1


def test_every_form_on_the_lead_pages_carries_the_csrf_token(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    manager = staff_client("manager")
    pid = make_customer(manager.client, web_source, session_factory)
    post(manager, f"/showroom/customers/{pid}/leads", {"channel": "referral"})
    for path in (f"/showroom/customers/{pid}/deal", "/showroom/leads"):
        page = soup(manager.client.get(path).text)
        forms = [f for f in page.select("main form") if f.get("method") == "post"]
        assert forms, path
        for form in forms:
            token = form.select_one("input[name=csrf_token]")
            assert isinstance(token, Tag) and token["value"] == manager.csrf, (path, form)
    deal = soup(manager.client.get(f"/showroom/customers/{pid}/deal").text)
    actions = {f["action"] for f in deal.select("form")}
    lead = only_lead(session_factory, pid)
    assert {
        f"/showroom/leads/{lead.id}/stage",
        f"/showroom/leads/{lead.id}/next-action",
        f"/showroom/leads/{lead.id}/assign",
        f"/showroom/customers/{pid}/leads",
        f"/showroom/customers/{pid}/notes",
        f"/showroom/customers/{pid}/appointments",
    } <= actions
    lost = deal.select_one(f"#lead-{lead.id} select[name=lost_reason]")
    assert lost is not None
    assert [o["value"] for o in lost.select("option") if o["value"]] == list(LOST_REASONS)
    # The customer page offers the lead section, inline or as a link to it.
    customer = manager.client.get(f"/showroom/customers/{pid}").text
    section = soup(customer).select_one("#deal")
    assert section is not None
    assert section.select_one(f"form[action='/showroom/leads/{lead.id}/stage']") or (
        section.select_one(f"a[href='/showroom/customers/{pid}/deal']")
    )


def test_next_action_is_set_and_refused_when_in_the_past(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    lead = only_lead(session_factory, pid)
    response = post(
        sales,
        f"/showroom/leads/{lead.id}/next-action",
        {"next_action": "Send the quote", "next_action_date": "2001-01-01"},
    )
    assert response.status_code == 400
    assert "That time has passed" in field_error_text(response.text)
    response = post(
        sales,
        f"/showroom/leads/{lead.id}/next-action",
        {"next_action": "Send the quote", "next_action_date": "14-03-2030"},
    )
    assert response.status_code == 400
    assert "is not a date" in field_error_text(response.text)
    assert get_lead(session_factory, lead.id).next_action is None

    tomorrow = (utcnow() + timedelta(days=1)).date().isoformat()
    response = post(
        sales,
        f"/showroom/leads/{lead.id}/next-action",
        {
            "next_action": "Send the quote",
            "next_action_date": tomorrow,
            "next_action_time": "15:30",
        },
    )
    assert response.status_code == 303
    saved = get_lead(session_factory, lead.id)
    assert saved.next_action == "Send the quote"
    assert saved.next_action_at is not None
    assert to_local(saved.next_action_at).strftime("%H:%M") == "15:30"
    post(sales, f"/showroom/leads/{lead.id}/next-action", {"done": "1"})
    assert get_lead(session_factory, lead.id).next_action is None


@pytest.mark.parametrize(("day", "at"), CALENDAR_ENDS)
def test_a_next_action_at_the_ends_of_the_calendar_is_a_form_error(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    day: str,
    at: str,
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory)
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "phone"})
    lead = only_lead(session_factory, pid)
    response = post(
        sales,
        f"/showroom/leads/{lead.id}/next-action",
        {"next_action": "Call", "next_action_date": day, "next_action_time": at},
    )
    assert response.status_code == 400
    error = soup(response.text).select_one(f"#next-next_action_at-{lead.id}-error")
    assert error is not None and error.get_text(strip=True)
    assert get_lead(session_factory, lead.id).next_action_at is None


def test_sold_leaves_the_sales_list_for_the_delivery_queue(
    staff_client: Callable[[str], StaffClient],
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    app_client: TestClient,
) -> None:
    sales = staff_client("sales")
    pid = make_customer(sales.client, web_source, session_factory, code="AUR-SOLD1")
    post(sales, f"/showroom/customers/{pid}/leads", {"channel": "website", "model": "Aurora"})
    lead = only_lead(session_factory, pid)
    assert len(soup(sales.client.get("/showroom/leads").text).select("li.lead-row")) == 1
    post(sales, f"/showroom/leads/{lead.id}/stage", {"stage": "sold"})
    assert get_lead(session_factory, lead.id).stage == "sold"
    assert soup(sales.client.get("/showroom/leads").text).select("li.lead-row") == []
    assert sales.client.get("/showroom/deliveries").status_code == 403

    with session_factory() as session:
        delivery = session.scalars(select(Delivery).where(Delivery.lead_id == lead.id)).one()
    assert (delivery.status, delivery.configuration_code) == ("scheduled", "AUR-SOLD1")
    assert delivery.car == "Aurora · GT Line · 2.0 Hybrid · Lava Red"
    assert delivery.price == 45990

    specialist = staff_client("delivery")
    queue = soup(specialist.client.get("/showroom/deliveries").text)
    row = queue.select_one(f"#delivery-{delivery.id}")
    assert row is not None
    assert "Sanne de Vries" in row.get_text(" ") and "AUR-SOLD1" in row.get_text(" ")
