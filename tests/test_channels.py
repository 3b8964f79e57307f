"""The channels page (/showroom/channels) through the real pages on both databases: an importer
manager names channels, takes one off the lead forms and changes norms (each change confirmed
and in the audit trail); wrong values come back marked with nothing saved; a later step above an
earlier one is a warning only; the names show on other pages at once; a dealer's manager reads
the page, a dealer's salesperson is refused; another worker's change shows within seconds."""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal

import httpx
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.leads.channel_options import REFRESH_SECONDS, ChannelOptionsCache
from cdp.leads.norms import set_channel
from cdp.models import LEAD_CHANNELS, Alert, AuditRecord, ChannelSetting, StageNorm
from tests.helpers import (
    SourceKey,
    StaffClient,
    make_customer,
    make_staff,
    only_lead,
    sign_in,
    soup,
    text_at,
    user_id,
)

URL = "/showroom/channels"
Form = dict[str, list[str]]


def browser_form(html: str) -> Form:
    """What a browser would send from the page's form as it stands: every hidden and text
    field, and the checkboxes that are ticked (no button)."""
    form = soup(html).select_one("form.channels-form")
    assert form is not None
    sent: Form = {}
    for field in form.select("input"):
        kind = field.get("type", "text")
        if kind == "checkbox" and not field.has_attr("checked"):
            continue
        sent.setdefault(str(field["name"]), []).append(str(field.get("value", "")))
    return sent


def send(staff: StaffClient, form: Form, **extra: str) -> httpx.Response:
    data: dict[str, list[str] | str] = {**form, **extra}
    data["csrf_token"] = staff.csrf
    return staff.client.post(URL, data=data, follow_redirects=False)


def signed_in(
    client: TestClient, factory: sessionmaker[Session], role: str, *dealers: str
) -> StaffClient:
    email = make_staff(factory, role=role, dealers=dealers)
    client.cookies.clear()
    return StaffClient(client=client, email=email, csrf=sign_in(client, email))


Stored = tuple[dict[tuple[str, str], Decimal | None], dict[str, tuple[str | None, bool]], list[str]]


def stored(factory: sessionmaker[Session]) -> Stored:
    """The stored norms, channel settings and audit details of changes to them."""
    with factory() as session:
        norms = {(r.channel, r.step): r.share for r in session.scalars(select(StageNorm))}
        settings = {
            r.channel: (r.label, r.offered) for r in session.scalars(select(ChannelSetting))
        }
        audits = [
            r.detail
            for r in session.scalars(select(AuditRecord).where(AuditRecord.action == "norms"))
        ]
    return norms, settings, audits


def cell(html: str, channel: str, step: str) -> str:
    return text_at(soup(html), f"tr[data-channel={channel}] td:has(#norm-{channel}-{step})")


def test_an_importer_manager_renames_a_channel_and_changes_norms_and_sees_what_changed(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    importer = staff_client("manager")  # a manager at no dealer: the importer's
    page = importer.client.get(URL)
    assert page.status_code == 200
    html = soup(page.text)
    assert html.select_one(f'nav a[href="{URL}"][aria-current="page"]')
    assert [tr["data-channel"] for tr in html.select("tbody tr")] == list(LEAD_CHANNELS)
    # The field's norms as defaults (../shared/DOMAIN.md): marketplace 15%, phone 22%.
    assert html.select_one("#norm-marketplace-sold")["value"] == "15"
    assert html.select_one("#norm-phone-sold")["value"] == "22"
    assert html.select_one("#norm-walk_in-sold")["value"] == ""  # a channel of its own
    assert html.select_one("#name-marketplace")["value"] == "Marketplace"

    form = browser_form(page.text)
    form["name.marketplace"] = ["Marktplaats & AutoScout24"]
    form["norm.marketplace.sold"] = ["12,5"]
    form["norm.walk_in.sold"] = ["30 %"]
    form["offered.direct_mail"] = ["no"]  # the box unticked
    saved = send(importer, form)
    assert saved.status_code == 303, saved.text
    assert saved.headers["location"] == f"{URL}?saved=4"

    norms, settings, audits = stored(session_factory)
    assert norms == {("marketplace", "sold"): Decimal("0.125"), ("walk_in", "sold"): Decimal("0.3")}
    assert settings == {
        "marketplace": ("Marktplaats & AutoScout24", True),
        "direct_mail": (None, False),
    }
    assert sorted(audits) == sorted(
        [
            "Marketplace: name “Marketplace” → “Marktplaats & AutoScout24”",
            "Marktplaats & AutoScout24 · Sold (lead to sale): 15% → 12.5%",
            "Walk-in · Sold (lead to sale): no norm → 30%",
            "Direct mail: no longer offered on lead forms",
        ]
    )
    with session_factory() as session:
        who = {
            r.staff_user_id
            for r in session.scalars(select(AuditRecord).where(AuditRecord.action == "norms"))
        }
    assert who == {user_id(session_factory, importer.email)}

    after = importer.client.get(saved.headers["location"])
    confirmed = text_at(soup(after.text), "#saved")
    assert "Saved 4 changes" in confirmed
    assert "15% → 12.5%" in confirmed and "no longer offered" in confirmed
    assert "default 15%" in cell(after.text, "marketplace", "sold")
    assert soup(after.text).select_one('button[name=reset][value="norm.marketplace.sold"]')
    assert soup(after.text).select_one("#offered-direct_mail").has_attr("checked") is False

    unchanged = send(importer, browser_form(after.text))
    assert unchanged.headers["location"] == f"{URL}?saved=0"
    assert stored(session_factory)[2] == audits  # nothing new to record


def test_reset_puts_one_value_back_to_its_default_and_saves_the_rest(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    importer = staff_client("manager")
    form = browser_form(importer.client.get(URL).text)
    form["norm.importer.sold"] = ["18"]
    form["name.event"] = ["Beurs"]
    assert send(importer, form).status_code == 303
    assert stored(session_factory)[0] == {("importer", "sold"): Decimal("0.18")}

    form = browser_form(importer.client.get(URL).text)
    assert form["norm.importer.sold"] == ["18"]
    form["name.phone"] = ["Telefoon"]
    reset = send(importer, form, reset="norm.importer.sold")
    assert reset.headers["location"] == f"{URL}?saved=2"
    norms, settings, _ = stored(session_factory)
    assert norms == {}  # back to the built-in 20%
    assert settings == {"event": ("Beurs", True), "phone": ("Telefoon", True)}
    page = importer.client.get(URL).text
    assert soup(page).select_one("#norm-importer-sold")["value"] == "20"

    form = browser_form(page)
    assert send(importer, form, reset="name.event").status_code == 303
    assert stored(session_factory)[1] == {"event": (None, True), "phone": ("Telefoon", True)}


def test_wrong_values_come_back_marked_and_nothing_is_saved(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    importer = staff_client("manager")
    form = browser_form(importer.client.get(URL).text)
    form["name.website"] = ["Configurator"]  # right, but not saved with the rest wrong
    form["norm.website.sold"] = ["twenty"]
    form["norm.phone.reached"] = ["150"]
    form["norm.importer.quote"] = ["-3"]
    form["name.event"] = ["x" * 61]
    form["name.referral"] = ["phone"]  # the name of another channel
    form["name.importer"] = ["DIRECT MAIL"]  # the renamed one is marked, not the later one
    refused = send(importer, form)
    assert refused.status_code == 400
    page = soup(refused.text)
    listed = [a["href"] for a in page.select("#channel-problems a")]
    assert listed == [
        "#norm-website-sold",
        "#name-importer",
        "#norm-importer-quote",
        "#norm-phone-reached",
        "#name-referral",
        "#name-event",
    ]
    for target in listed:
        field = page.select_one(target)
        assert field is not None and field["aria-invalid"] == "true", target
    assert page.select_one("#norm-website-sold")["value"] == "twenty"  # as typed
    assert page.select_one("#name-website")["value"] == "Configurator"
    assert "Not a number" in cell(refused.text, "website", "sold")
    assert "Only 0 to 100" in cell(refused.text, "phone", "reached")
    problems = text_at(page, "#channel-problems")
    assert "Nothing was saved" in problems and "at most 60 characters" in problems
    assert "Referral: “phone” is the name of Phone already" in problems
    assert "Importer: “DIRECT MAIL” is the name of Direct mail already" in problems
    assert stored(session_factory) == ({}, {}, [])


def test_a_later_step_above_an_earlier_one_is_saved_with_a_warning(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    importer = staff_client("manager")
    form = browser_form(importer.client.get(URL).text)
    form["norm.phone.quote"] = ["40"]  # above the 35% who get an appointment
    saved = send(importer, form)
    assert saved.status_code == 303
    assert stored(session_factory)[0] == {("phone", "quote"): Decimal("0.4")}
    page = importer.client.get(saved.headers["location"]).text
    warning = text_at(soup(page), "#channel-warnings")
    assert "Phone, Quote (40%) is above appointment (35%)" in warning
    assert "above an earlier step" in cell(page, "phone", "quote")
    assert soup(page).select_one("#channel-problems") is None


def test_the_names_show_on_other_pages_and_lead_forms_offer_only_offered_channels(
    app_client: TestClient, session_factory: sessionmaker[Session], web_source: SourceKey
) -> None:
    importer = signed_in(app_client, session_factory, "manager")
    form = browser_form(importer.client.get(URL).text)
    form["name.phone"] = ["Telefoon (inbound)"]
    form["offered.marketplace"] = ["no"]
    assert send(importer, form).status_code == 303

    sales = signed_in(app_client, session_factory, "sales")
    pid = make_customer(app_client, web_source, session_factory)
    customer = f"/showroom/customers/{pid}"
    choices = soup(sales.client.get(customer).text).select("select[name=channel] option")
    offered = {str(o["value"]): o.get_text(strip=True) for o in choices if o["value"]}
    assert "marketplace" not in offered
    assert offered["phone"] == "Telefoon (inbound)"
    assert offered["website"] == "Brand website"

    refused = sales.client.post(
        f"{customer}/leads",
        data={"csrf_token": sales.csrf, "channel": "marketplace"},
        follow_redirects=False,
    )
    assert refused.status_code == 400
    assert "no longer offered" in refused.text
    made = sales.client.post(
        f"{customer}/leads",
        data={"csrf_token": sales.csrf, "channel": "phone", "model": "Aurora"},
        follow_redirects=False,
    )
    assert made.status_code == 303
    assert only_lead(session_factory, pid).channel == "phone"
    assert "Telefoon (inbound) lead" in sales.client.get(customer).text
    mine = soup(sales.client.get("/showroom/leads").text)
    assert "Telefoon (inbound)" in mine.get_text(" ")

    # A lead given to the salesperson by their manager: the alert names the channel so too.
    other = make_customer(app_client, web_source, session_factory, first_name="Joost")
    importer = signed_in(app_client, session_factory, "manager")
    given = importer.client.post(
        f"/showroom/customers/{other}/leads",
        data={
            "csrf_token": importer.csrf,
            "channel": "phone",
            "assigned_user_id": str(user_id(session_factory, sales.email)),
        },
        follow_redirects=False,
    )
    assert given.status_code == 303, given.text
    with session_factory() as session:
        told = session.scalars(select(Alert.text).where(Alert.kind == "lead_assigned")).all()
    assert told == ["new Telefoon (inbound) lead assigned to you"]


def test_a_dealer_s_manager_reads_the_norms_and_a_salesperson_is_refused(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    sales = signed_in(app_client, session_factory, "sales", "MAIN")
    assert sales.client.get(URL).status_code == 403
    assert f'href="{URL}"' not in sales.client.get("/showroom").text
    tried = sales.client.post(
        URL, data={"csrf_token": sales.csrf, "name.phone": "Mine"}, follow_redirects=False
    )
    assert tried.status_code == 403

    dealer_manager = signed_in(app_client, session_factory, "manager", "MAIN")
    page = dealer_manager.client.get(URL)
    assert page.status_code == 200
    html = soup(page.text)
    assert html.select_one("form.channels-form") is None and not html.select("input[name^=norm]")
    assert "15%" in text_at(html, "tr[data-channel=marketplace]")
    assert "The importer's managers set these" in page.text
    tried = dealer_manager.client.post(
        URL,
        data={"csrf_token": dealer_manager.csrf, "name.phone": "Mine"},
        follow_redirects=False,
    )
    assert tried.status_code == 403
    assert stored(session_factory) == ({}, {}, [])


def test_a_name_saved_by_another_worker_shows_within_the_refresh_period(
    app_client: TestClient, session_factory: sessionmaker[Session], web_source: SourceKey
) -> None:
    """Each worker keeps the names a few seconds: a change saved elsewhere (here straight into
    the database, as another worker's save would) shows once that time has passed."""
    clock = [1000.0]
    app_client.app.state.channel_options = ChannelOptionsCache(clock=lambda: clock[0])  # type: ignore[attr-defined]
    sales = signed_in(app_client, session_factory, "sales")
    pid = make_customer(app_client, web_source, session_factory)

    def phone_choice() -> str:
        page = soup(sales.client.get(f"/showroom/customers/{pid}").text)
        return text_at(page, 'select[name=channel] option[value="phone"]')

    assert phone_choice() == "Phone"
    with session_factory() as session:
        set_channel(session, channel="phone", label="Bellen", offered=True, by_user_id=None)
        session.commit()
    clock[0] += REFRESH_SECONDS - 0.5
    assert phone_choice() == "Phone"  # this worker's copy, still fresh
    clock[0] += 0.5
    assert phone_choice() == "Bellen"
