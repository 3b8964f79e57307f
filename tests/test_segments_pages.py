"""The marketer pages through HTTP: who may see them, the empty state, segment cards, the inline
rename (CSRF required), the build button and its progress, the audience builder's live count,
saving audiences, CSV downloads and the export log. Pages are checked as parsed HTML, with and
without htmx. Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import re
import uuid
from collections.abc import Callable
from typing import Any

import httpx
import pytest
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Audience, Dealer, ExportLog, Segment, SegmentRun, StaffUser
from segmentation import job
from tests.helpers import (
    HOSTILE_IDS,
    STAFF_PASSWORD,
    People,
    SourceKey,
    StaffClient,
    make_dealer,
    make_people,
    make_run,
    make_staff,
    sign_in,
)

HTMX = {"HX-Request": "true"}


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


def no_runs_yet(factory: sessionmaker[Session]) -> bool:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(SegmentRun)) == 0


# --- who may see the pages ----------------------------------------------------------------------
PAGES = ["/segments", "/segments/audiences", "/segments/exports"]


@pytest.mark.parametrize("url", PAGES)
def test_marketing_sees_the_pages_and_sales_does_not(
    staff_client: Callable[[str], StaffClient], url: str
) -> None:
    marketing = staff_client("marketing")
    response = marketing.client.get(url)
    assert response.status_code == 200
    assert page(response).select_one('nav[aria-label="Main"] a[href="/segments"]') is not None

    sales = staff_client("sales")
    refused = sales.client.get(url, headers={"Accept": "text/html"})
    assert refused.status_code == 403
    assert "does not give access" in refused.text


def test_managers_and_admins_see_segments(staff_client: Callable[[str], StaffClient]) -> None:
    for role in ("manager", "admin"):
        assert staff_client(role).client.get("/segments").status_code == 200


@pytest.mark.parametrize("role", ["manager", "marketing"])
def test_a_dealers_staff_reach_no_segment_audience_or_export(
    app_client: TestClient,
    session_factory: sessionmaker[Session],
    people: People,
    role: str,
) -> None:
    """Segments, audiences and exports read every dealer's customers: a dealer's manager or
    marketer has the role but not the network, so none of it, and no link to it."""
    run = make_run(session_factory, [[people.anna]])
    with session_factory() as session:
        audience = Audience(name=f"All {uuid.uuid4().hex[:6]}", rules={})
        session.add(audience)
        session.commit()
        audience_id = audience.id
    make_dealer(session_factory, f"NL-{uuid.uuid4().hex[:4].upper()}")
    dealer = make_dealer(session_factory, f"BE-{uuid.uuid4().hex[:4].upper()}")
    with session_factory() as session:
        code = session.get_one(Dealer, dealer).code
    email = make_staff(session_factory, role=role, dealers=(code,))
    app_client.cookies.clear()
    landing = app_client.post(
        "/login",
        data={"email": email, "password": STAFF_PASSWORD, "csrf_token": _login_token(app_client)},
        follow_redirects=False,
    )
    assert landing.status_code == 303
    assert not landing.headers["location"].startswith("/segments")  # their home is elsewhere
    csrf = sign_in(app_client, email)
    for url in [
        *PAGES,
        "/segments/audiences/count",
        f"/segments/{run.segments[0]}/export.csv",
        f"/segments/audiences/{audience_id}/export.csv",
    ]:
        assert app_client.get(url).status_code == 403, url
    staff = StaffClient(client=app_client, email=email, csrf=csrf)
    assert staff.post("/segments/audiences", {"name": "Gent"}).status_code == 403  # type: ignore[attr-defined]
    renamed = staff.post(f"/segments/{run.segments[0]}/rename", {"name": "Mine"})
    assert isinstance(renamed, httpx.Response) and renamed.status_code == 403
    home = app_client.get("/account")
    assert page(home).select_one('nav[aria-label="Main"] a[href="/segments"]') is None
    with session_factory() as session:
        assert session.scalar(select(func.count()).select_from(ExportLog)) == 0
        assert session.scalar(select(Segment.name).where(Segment.id == run.segments[0])) != "Mine"


def _login_token(client: TestClient) -> str:
    token = page(client.get("/login")).find("input", attrs={"name": "csrf_token"})
    assert isinstance(token, Tag)
    return str(token["value"])


def test_signed_out_visitors_go_to_the_sign_in_page(app_client: TestClient) -> None:
    app_client.cookies.clear()
    for url in [*PAGES, "/segments/audiences/count", "/segments/1/export.csv"]:
        response = app_client.get(url, follow_redirects=False)
        assert response.status_code == 303
        assert response.headers["location"].startswith("/login?next=")


def test_sales_cannot_download_or_post(
    staff_client: Callable[[str], StaffClient],
    people: People,
    session_factory: sessionmaker[Session],
) -> None:
    run = make_run(session_factory, [[people.anna]])
    sales = staff_client("sales")
    assert sales.client.get(f"/segments/{run.segments[0]}/export.csv").status_code == 403
    response = sales.post(f"/segments/{run.segments[0]}/rename", {"name": "Mine"})
    assert isinstance(response, httpx.Response) and response.status_code == 403
    assert sales.post("/segments/audiences", {"name": "x"}).status_code == 403  # type: ignore[attr-defined]


# --- the overview -------------------------------------------------------------------------------
def test_empty_state_invites_the_first_build(
    marketer: StaffClient, session_factory: sessionmaker[Session]
) -> None:
    if not no_runs_yet(session_factory):
        pytest.skip("another test left a run in the database")
    html = page(marketer.client.get("/segments"))
    empty = html.select_one(".empty-state")
    assert "Build your first segments" in text_of(empty)
    form = empty.select_one('form[action="/segments/runs"]') if empty else None
    assert form is not None
    assert form.select_one('input[name="csrf_token"]')["value"] == marketer.csrf  # type: ignore[index]
    assert html.select(".segment-card") == []


def test_cards_show_names_sizes_growth_charts_models_colours_and_consent(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    first = make_run(session_factory, [[people.anna, people.bram], [people.chris]])
    second = make_run(
        session_factory,
        [[people.anna, people.bram, people.dana], [people.chris], [people.eve]],
        names=["Design-focused SUV shoppers", "Price-conscious", "Browsers"],
        created_by="Marta Marketing",
    )
    html = page(marketer.client.get("/segments"))
    cards = html.select(".segment-card")
    assert [text_of(card.select_one("h2")) for card in cards] == [
        "1 Design-focused SUV shoppers",
        "2 Price-conscious",
        "3 Browsers",
    ]
    design = cards[0]
    assert "3 profiles" in text_of(design.select_one(".size"))
    assert text_of(design.select_one(".growth")).startswith("+1 (+50%) since run")
    assert text_of(cards[1].select_one(".growth")).startswith("no change since run")
    chart = design.select(".profile-chart li")
    assert chart and "design" in text_of(chart[0]) and "70%" in text_of(chart[0])
    assert "avg 35%" in text_of(chart[0])
    assert "Tundra" in text_of(design.select_one(".bars"))
    colour = design.select_one(".colour-list li")
    assert "Lava Red" in text_of(colour) and colour is not None
    assert "--swatch: #b3261e" in str(colour.select_one(".swatch")["style"])  # type: ignore[index]
    assert "50%" in text_of(design.select_one(".consent-share"))
    assert design.select_one(f'a[href="/segments/{second.segments[0]}/export.csv"]') is not None
    history = [text_of(row) for row in html.select(".run-history tbody tr")]
    assert history[0].startswith(f"{second.id} current") and "Marta Marketing" in history[0]
    assert any(row.startswith(str(first.id)) for row in history)
    assert "0.41" in history[0] and "3 · 1 · 1" in history[0]


def test_every_page_renders_as_an_htmx_partial_too(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    make_run(session_factory, [[people.anna], [people.chris]])
    for url in PAGES:
        full = marketer.client.get(url)
        partial = marketer.client.get(url, headers=HTMX)
        assert full.status_code == partial.status_code == 200
        assert "<html" in full.text and "<html" not in partial.text
        assert page(partial).select_one("h1") is not None


# --- renaming -----------------------------------------------------------------------------------
def segment_names(factory: sessionmaker[Session], segment_id: int) -> tuple[str, str | None]:
    with factory() as session:
        segment = session.get(Segment, segment_id)
        assert segment is not None
        return segment.name, segment.custom_name


def test_rename_inline_needs_the_csrf_token(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna], [people.chris]])
    sid = run.segments[0]

    form = page(marketer.client.get(f"/segments/{sid}/rename", headers=HTMX))
    assert form.select_one(f'form[hx-post="/segments/{sid}/rename"] input[name="name"]')
    # Without JavaScript the link opens a page of its own with a plain form.
    own_page = page(marketer.client.get(f"/segments/{sid}/rename"))
    plain = own_page.select_one(f'form[action="/segments/{sid}/rename"]')
    assert plain is not None and not plain.has_attr("hx-post")
    assert own_page.select_one("h1") is not None

    forged = marketer.client.post(
        f"/segments/{sid}/rename", data={"name": "Forged"}, follow_redirects=False
    )
    assert forged.status_code == 403
    assert segment_names(session_factory, sid)[1] is None

    renamed = marketer.client.post(
        f"/segments/{sid}/rename",
        data={"name": "  Our   design lovers "},
        headers={**HTMX, "X-CSRF-Token": marketer.csrf},
    )
    assert renamed.status_code == 200
    title = page(renamed)
    assert text_of(title.select_one("h2")) == "1 Our design lovers"
    assert "Generated name: Segment 1" in text_of(title.select_one(".generated"))
    assert segment_names(session_factory, sid) == ("Segment 1", "Our design lovers")

    # Without htmx: a redirect back to the card; an empty name restores the generated one.
    back = marketer.post(f"/segments/{sid}/rename", {"name": ""})
    assert isinstance(back, httpx.Response) and back.status_code == 303
    assert back.headers["location"] == f"/segments#segment-{sid}"
    assert segment_names(session_factory, sid) == ("Segment 1", None)


def test_a_refused_rename_changes_nothing(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna]])
    sid = run.segments[0]
    response = marketer.post(f"/segments/{sid}/rename", {"name": "x" * 201})
    assert isinstance(response, httpx.Response) and response.status_code == 400
    assert "at most 200 characters" in text_of(page(response).select_one(".field-error"))
    assert segment_names(session_factory, sid)[1] is None
    missing = marketer.post("/segments/987654321/rename", {"name": "Gone"})
    assert isinstance(missing, httpx.Response) and missing.status_code == 404


def test_a_segment_cannot_take_a_name_another_segment_of_its_run_answers_to(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna], [people.chris]], names=["Design", "Price"])
    first, second = run.segments

    # Another segment's name, whatever its case and spacing: refused, the field marked, kept.
    taken = marketer.post(f"/segments/{second}/rename", {"name": "  DESIGN "})
    assert isinstance(taken, httpx.Response) and taken.status_code == 409
    html = page(taken)
    field = html.select_one(f"#segment-name-{second}")
    assert field is not None and field["aria-invalid"] == "true" and field["value"] == "  DESIGN "
    assert "segment 1 of this run is already called “Design”" in text_of(
        html.select_one(".field-error")
    )
    assert segment_names(session_factory, second) == ("Price", None)
    inline = marketer.client.post(
        f"/segments/{second}/rename",
        data={"name": "design"},
        headers={**HTMX, "X-CSRF-Token": marketer.csrf},
    )
    assert inline.status_code == 409 and "<html" not in inline.text
    assert page(inline).select_one(f'form[hx-post="/segments/{second}/rename"]') is not None

    # A segment renamed still owns its generated name: `cdp export --segment Design` finds it.
    assert marketer.post(f"/segments/{first}/rename", {"name": "Our designers"}).status_code == 303  # type: ignore[attr-defined]
    generated = marketer.post(f"/segments/{second}/rename", {"name": "Design"})
    assert isinstance(generated, httpx.Response) and generated.status_code == 409
    assert "generated name of segment 1" in text_of(page(generated).select_one(".field-error"))
    assert segment_names(session_factory, second) == ("Price", None)
    # Nor is a number a name (a number finds a segment by its number).
    number = marketer.post(f"/segments/{second}/rename", {"name": "#1"})
    assert isinstance(number, httpx.Response) and number.status_code == 400
    # Its own generated name, and a name another run uses, are fine.
    assert marketer.post(f"/segments/{second}/rename", {"name": "price"}).status_code == 303  # type: ignore[attr-defined]
    other = make_run(session_factory, [[people.dana]], names=["Family"])
    own = marketer.post(f"/segments/{other.segments[0]}/rename", {"name": "Our designers"})
    assert isinstance(own, httpx.Response) and own.status_code == 303
    assert segment_names(session_factory, other.segments[0]) == ("Family", "Our designers")


def test_a_segment_name_over_the_limit_is_refused_and_kept(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna]])
    sid = run.segments[0]
    form = page(marketer.client.get(f"/segments/{sid}/rename"))
    assert not form.select_one(f"#segment-name-{sid}").has_attr("maxlength")  # type: ignore[union-attr]
    typed = "Ontwerpliefhebbers" + "x" * 4982  # 5,000 characters, one word
    refused = marketer.post(f"/segments/{sid}/rename", {"name": typed})
    assert isinstance(refused, httpx.Response) and refused.status_code == 400
    html = page(refused)
    assert "at most 200 characters" in text_of(html.select_one(".field-error"))
    assert html.select_one(f"#segment-name-{sid}")["value"] == typed  # type: ignore[index]
    assert segment_names(session_factory, sid)[1] is None


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_links_with_impossible_ids_are_a_404(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session], bad: str
) -> None:
    make_run(session_factory, [[people.anna]])
    for url in (
        f"/segments/{bad}/rename",
        f"/segments/{bad}/title",
        f"/segments/{bad}/count",
        f"/segments/{bad}/export.csv",
        f"/segments/runs/{bad}/progress",
        f"/segments/audiences/{bad}/count",
        f"/segments/audiences/{bad}/export.csv",
        f"/segments/audiences?edit={bad}",
    ):
        response = marketer.client.get(url)
        assert response.status_code == 404, url
        assert "There is no" in response.text, url
    for url in (
        f"/segments/{bad}/rename",
        f"/segments/audiences/{bad}",
        f"/segments/audiences/{bad}/delete",
    ):
        response = marketer.post(url, {"name": "Gone"})
        assert isinstance(response, httpx.Response)
        assert response.status_code == 404, url
        assert "There is no" in response.text, url
    # A bad ?saved= (the notice after saving) is no notice, not an error.
    assert marketer.client.get(f"/segments/audiences?saved={bad}").status_code == 200
    assert audience_count(session_factory) == 0


@pytest.mark.parametrize("bad", HOSTILE_IDS)
def test_impossible_segment_ids_and_numbers_in_the_builder_are_refused(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session], bad: str
) -> None:
    make_run(session_factory, [[people.anna]])
    count = marketer.client.get("/segments/audiences/count", params={"segment": bad}, headers=HTMX)
    assert count.status_code == 400
    assert "choose segments from the list" in count.text
    days = marketer.client.get(
        "/segments/audiences/count", params={"active_within_days": bad}, headers=HTMX
    )
    assert days.status_code == 400
    assert "give a number of days" in days.text
    saved = marketer.post("/segments/audiences", {"name": "Hostile", "segment": bad})
    assert isinstance(saved, httpx.Response) and saved.status_code == 400
    assert "choose segments from the list" in saved.text
    assert audience_count(session_factory) == 0
    built = marketer.post("/segments/runs", {"k": bad})
    assert isinstance(built, httpx.Response) and built.status_code == 400
    assert "number of segments" in text_of(page(built).select_one(".error"))


# --- building segments --------------------------------------------------------------------------
def test_the_build_button_starts_a_background_run_and_the_page_polls_it(
    marketer: StaffClient,
    session_factory: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    started: list[int] = []
    # The real job would cluster in a thread; here the run stays queued so the page can be seen.
    monkeypatch.setattr(
        job, "start_run_in_background", lambda _factory, run_id: started.append(run_id)
    )
    response = marketer.post("/segments/runs", {"k": "4"})
    assert isinstance(response, httpx.Response) and response.status_code == 303
    assert response.headers["location"] == "/segments"
    assert len(started) == 1
    with session_factory() as session:
        run = session.get(SegmentRun, started[0])
        assert run is not None
        user = session.scalars(select(StaffUser).where(StaffUser.email == marketer.email)).one()
        assert (run.status, run.parameters["k"], run.created_by_user_id) == ("queued", 4, user.id)

    html = page(marketer.client.get("/segments"))
    progress = html.select_one("#run-progress")
    assert progress is not None
    assert progress["hx-get"] == f"/segments/runs/{started[0]}/progress"
    assert progress["hx-trigger"] == "every 1s"
    assert progress.select_one("progress") is not None

    # A second run while one is under way is refused, and nothing is started.
    again = marketer.post("/segments/runs", {"k": ""})
    assert isinstance(again, httpx.Response) and again.status_code == 409
    assert "still queued" in text_of(page(again).select_one(".error"))
    assert len(started) == 1

    with session_factory() as session:
        run = session.get(SegmentRun, started[0])
        assert run is not None
        run.status, run.progress, run.stage = "running", 0.42, "clustering"
        session.commit()
    polled = marketer.client.get(f"/segments/runs/{started[0]}/progress", headers=HTMX)
    assert "42%" in text_of(page(polled).select_one(".pct"))
    assert "clustering" in polled.text and "HX-Refresh" not in polled.headers

    with session_factory() as session:
        run = session.get(SegmentRun, started[0])
        assert run is not None
        run.status, run.progress, run.stage = "done", 1.0, "done"
        session.commit()
    done = marketer.client.get(f"/segments/runs/{started[0]}/progress", headers=HTMX)
    assert done.headers.get("HX-Refresh") == "true"
    assert page(done).select_one("#run-progress").get("hx-trigger") is None  # type: ignore[union-attr]


def test_a_failed_run_shows_why_and_stops_polling(
    marketer: StaffClient, session_factory: sessionmaker[Session], monkeypatch: pytest.MonkeyPatch
) -> None:
    from segmentation import execution

    monkeypatch.setattr(job, "start_run_in_background", lambda *_args: None)
    assert marketer.post("/segments/runs").status_code == 303  # type: ignore[attr-defined]
    with session_factory() as session:
        run_id = session.scalars(select(SegmentRun.id).order_by(SegmentRun.id.desc())).first()
        assert run_id is not None
    # Too few profiles to cluster: the job records the failure on the run.
    with pytest.raises(Exception, match="profiles"):
        execution.execute_run(session_factory, run_id)
    polled = page(marketer.client.get(f"/segments/runs/{run_id}/progress", headers=HTMX))
    assert "failed" in text_of(polled.select_one(".error"))
    assert polled.select_one("#run-progress").get("hx-trigger") is None  # type: ignore[union-attr]


def test_an_impossible_number_of_segments_is_refused(marketer: StaffClient) -> None:
    for k in ("abc", "1", "99"):
        response = marketer.post("/segments/runs", {"k": k})
        assert isinstance(response, httpx.Response) and response.status_code == 400
        assert "number of segments" in text_of(page(response).select_one(".error"))


# --- the audience builder -----------------------------------------------------------------------
def counts(response: httpx.Response) -> tuple[int, int]:
    html = page(response)
    exportable = html.select_one('[data-count="exportable"]')
    total = html.select_one('[data-count="total"]')
    return (
        int(text_of(exportable).replace(".", "")),
        int(text_of(total).replace(".", "")),
    )


def test_live_count_partial_follows_the_rules(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    base = counts(marketer.client.get("/segments/audiences/count", headers=HTMX))
    tundra = marketer.client.get(
        "/segments/audiences/count", params={"model": "Tundra"}, headers=HTMX
    )
    assert tundra.status_code == 200 and "<html" not in tundra.text
    exportable, total = counts(tundra)
    assert total >= 3 and exportable >= 1 and base[1] >= total
    narrower = counts(
        marketer.client.get(
            "/segments/audiences/count",
            params={"model": "Tundra", "consent": "email", "showroom_visit": "no"},
            headers=HTMX,
        )
    )
    assert narrower[1] < total

    refused = marketer.client.get(
        "/segments/audiences/count", params={"active_within_days": "soon"}, headers=HTMX
    )
    assert refused.status_code == 400
    assert "Last active" in text_of(page(refused).select_one(".error"))


def test_the_builder_offers_the_values_in_the_data(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna], [people.chris]], names=["Design", "Price"])
    html = page(marketer.client.get("/segments/audiences", params={"segment": run.segments[0]}))
    builder = html.select_one("form#builder")
    assert builder is not None and builder["hx-get"] == "/segments/audiences/count"
    assert "change" in str(builder["hx-trigger"])
    # Without novalidate htmx halts the live count while the name is empty; nor may the
    # CSRF token travel in the count's URL.
    assert builder.has_attr("novalidate")
    assert builder["hx-params"] == "not csrf_token,name"
    offered = {
        name: {str(i["value"]) for i in builder.select(f'input[name="{name}"]')}
        for name in ("segment", "model", "body_type", "colour", "lead_stage", "channel")
    }
    assert {str(s) for s in run.segments} <= offered["segment"]
    assert {"Tundra", "Vela", "Lumo"} <= offered["model"]
    assert {"suv", "compact_suv", "hatchback"} <= offered["body_type"]
    assert {"Lava Red", "Glacier White"} <= offered["colour"]
    assert {"quote", "none"} <= offered["lead_stage"]
    assert offered["channel"] == {"web", "showroom"}
    ticked = builder.select_one(f'input[name="segment"][value="{run.segments[0]}"]')
    assert ticked is not None and ticked.has_attr("checked")
    assert counts_in(html) == (1, 1)


def counts_in(html: BeautifulSoup) -> tuple[int, int]:
    box = html.select_one("#audience-count")
    exportable = box.select_one('[data-count="exportable"]') if box else None
    total = box.select_one('[data-count="total"]') if box else None
    return int(text_of(exportable)), int(text_of(total))


def audience_form(**fields: Any) -> dict[str, Any]:
    return {"consent": "any", "showroom_visit": "any", **fields}


def test_save_an_audience_reuse_it_and_refuse_a_duplicate_name(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    name = f"Tundra fans {uuid.uuid4().hex[:6]}"
    saved = marketer.client.post(
        "/segments/audiences",
        data={
            "csrf_token": marketer.csrf,
            "name": name,
            "model": ["Tundra"],
            "colour": ["Lava Red"],
        },
        follow_redirects=False,
    )
    assert saved.status_code == 303, saved.text
    with session_factory() as session:
        audience = session.scalars(select(Audience).where(Audience.name == name)).one()
        assert audience.rules == {"models": ["Tundra"], "colours": ["Lava Red"]}
    assert (
        saved.headers["location"]
        == f"/segments/audiences?saved={audience.id}#audience-{audience.id}"
    )

    listing = page(marketer.client.get(saved.headers["location"]))
    row = listing.select_one(f"#audience-{audience.id}")
    assert row is not None and name in text_of(row)
    assert "Model: Tundra" in text_of(row) and "Colour: Lava Red" in text_of(row)
    assert row.select_one(f'a[href="/segments/audiences/{audience.id}/export.csv"]') is not None
    lazy = marketer.client.get(f"/segments/audiences/{audience.id}/count", headers=HTMX)
    assert "to e-mail" in lazy.text

    # Reuse: the builder opens with its rules ticked.
    edit = page(marketer.client.get(f"/segments/audiences?edit={audience.id}"))
    form = edit.select_one("form#builder")
    assert form is not None and form["action"] == f"/segments/audiences/{audience.id}"
    assert form.select_one('input[name="model"][value="Tundra"]').has_attr("checked")  # type: ignore[union-attr]
    assert form.select_one('input[name="name"]')["value"] == name  # type: ignore[index]

    before = audience_count(session_factory)
    duplicate = marketer.post("/segments/audiences", audience_form(name=name.upper()))
    assert isinstance(duplicate, httpx.Response) and duplicate.status_code == 409
    assert "already exists" in text_of(page(duplicate).select_one("#builder-error"))
    assert audience_count(session_factory) == before

    bad = marketer.post("/segments/audiences", audience_form(name="Soon", active_within_days="x"))
    assert isinstance(bad, httpx.Response) and bad.status_code == 400
    assert audience_count(session_factory) == before

    no_csrf = marketer.client.post(
        "/segments/audiences", data=audience_form(name="Sneaky"), follow_redirects=False
    )
    assert no_csrf.status_code == 403
    assert audience_count(session_factory) == before

    changed = marketer.post(
        f"/segments/audiences/{audience.id}", audience_form(name=name, model=["Vela"])
    )
    assert isinstance(changed, httpx.Response) and changed.status_code == 303
    asked = marketer.post(f"/segments/audiences/{audience.id}/delete")
    assert isinstance(asked, httpx.Response) and asked.status_code == 200  # asked first
    assert audience_count(session_factory) == before
    deleted = marketer.post(f"/segments/audiences/{audience.id}/delete", {"confirm": "yes"})
    assert isinstance(deleted, httpx.Response) and deleted.status_code == 303
    assert audience_count(session_factory) == before - 1


def audience_count(factory: sessionmaker[Session]) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(Audience)) or 0


# --- downloads and the log ----------------------------------------------------------------------
def test_download_returns_the_consented_rows_as_csv_and_logs_it(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna, people.bram, people.dana], [people.finn]])
    name = f"Everyone {uuid.uuid4().hex[:6]}"
    saved = marketer.post(
        "/segments/audiences", audience_form(name=name, segment=[str(run.segments[0])])
    )
    assert isinstance(saved, httpx.Response) and saved.status_code == 303
    with session_factory() as session:
        audience_id = session.scalars(select(Audience.id).where(Audience.name == name)).one()

    response = marketer.client.get(f"/segments/audiences/{audience_id}/export.csv")
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/csv; charset=utf-8"
    assert re.match(
        r'attachment; filename="audience-everyone-[0-9a-f]{6}-\d{8}-\d{4}\.csv"',
        response.headers["content-disposition"],
    )
    rows = list(csv.DictReader(io.StringIO(response.content.decode("utf-8"))))
    # Of Anna, Bram (withdrew) and Dana (objected), only Anna may be e-mailed.
    assert [(row["first_name"], row["segment"]) for row in rows] == [("Anna", "Segment 1")]

    with session_factory() as session:
        entry = session.scalars(select(ExportLog).order_by(ExportLog.id.desc()).limit(1)).one()
        user = session.scalars(select(StaffUser).where(StaffUser.email == marketer.email)).one()
    assert (entry.exported_by, entry.exported_by_user_id) == (marketer.email, user.id)
    assert (entry.what, entry.rows) == (f"audience: {name}", 1)
    assert entry.rules == {"audience_id": audience_id, "rules": {"segments": [run.segments[0]]}}

    segment = marketer.client.get(f"/segments/{run.segments[1]}/export.csv")
    assert segment.status_code == 200
    assert [row["first_name"] for row in csv.DictReader(io.StringIO(segment.text))] == ["Finn"]

    log = page(marketer.client.get("/segments/exports"))
    lines = [text_of(row) for row in log.select("tbody tr")]
    assert f"segment: Segment 2 (run {run.id})" in lines[0] and marketer.email in lines[0]
    assert f"audience: {name}" in lines[1]

    missing = marketer.client.get("/segments/audiences/987654321/export.csv")
    assert missing.status_code == 404


def test_the_export_log_shows_rules_in_words(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna, people.bram], [people.finn]])
    name = f"In words {uuid.uuid4().hex[:6]}"
    saved = marketer.post(
        "/segments/audiences",
        audience_form(
            name=name,
            segment=[str(run.segments[0])],
            model=["Tundra", "Vela"],
            lead_stage=["quote", "none"],
            consent="email",
            active_within_days="30",
        ),
    )
    assert isinstance(saved, httpx.Response) and saved.status_code == 303, saved.text
    with session_factory() as session:
        audience_id = session.scalars(select(Audience.id).where(Audience.name == name)).one()
    assert marketer.client.get(f"/segments/audiences/{audience_id}/export.csv").status_code == 200
    assert marketer.client.get(f"/segments/{run.segments[1]}/export.csv").status_code == 200

    log = page(marketer.client.get("/segments/exports"))
    rows = log.select(".export-table tbody tr")
    rules = [[text_of(li) for li in row.select(".rule-summary li")] for row in rows[:2]]
    assert rules == [
        [f"Every member of segment 2 of run {run.id}"],
        [
            "Segment: Segment 1",
            "Model: Tundra or Vela",
            "Lead stage: Quote or No lead",
            "Last active: within 30 days",
            "Consent: E-mail marketing granted",
        ],
    ]
    assert "{" not in text_of(log.select_one(".export-table"))  # no JSON
    # Once a later run is current, the audience's segment says which run it was of.
    make_run(session_factory, [[people.anna]])
    later = page(marketer.client.get("/segments/exports")).select(".export-table tbody tr")
    assert f"Segment: Segment 1 (run {run.id})" in text_of(later[1])


def test_the_segment_count_in_a_card_is_the_exportable_count(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.anna, people.bram, people.finn]])
    lazy = page(marketer.client.get(f"/segments/{run.segments[0]}/count", headers=HTMX))
    assert text_of(lazy.select_one(".count-compact")) == "2 to e-mail of 3"


def test_one_profile_one_segment_and_one_day_read_in_the_singular(
    marketer: StaffClient, people: People, session_factory: sessionmaker[Session]
) -> None:
    run = make_run(session_factory, [[people.finn]])
    with session_factory() as session:
        [segment] = session.scalars(select(Segment).where(Segment.run_id == run.id)).all()
        features = dict(segment.profile["features"])
        features["recency_days"] = {
            "label": "days since last visit", "unit": "days", "group": "engagement",
            "segment": 1.2, "overall": 1.0, "z": 0.1,
        }  # fmt: skip
        segment.profile = {**segment.profile, "features": features}
        session.commit()
        segment_id = segment.id
    overview = page(marketer.client.get("/segments"))
    assert text_of(overview.select_one(".run-summary p")).startswith("1 profile in 1 segment,")
    card = overview.select_one(f"#segment-{segment_id}")
    assert card is not None
    assert text_of(card.select_one(".size")).startswith("1 profile ·")
    assert "1 day" in text_of(card) and "1 days" not in text_of(card)
    progress = page(marketer.client.get(f"/segments/runs/{run.id}/progress", headers=HTMX))
    assert "is done: 1 profile in 1 segment." in text_of(progress.select_one("#run-progress"))

    one = marketer.client.get("/segments/audiences/count", params={"channel": "showroom"},
                              headers=HTMX)  # fmt: skip
    assert text_of(page(one).select_one(".count-total")) == "of 1 profile matching these rules"

    name = f"Yesterday {uuid.uuid4().hex[:6]}"
    saved = marketer.post("/segments/audiences", audience_form(name=name, active_within_days="1"))
    assert isinstance(saved, httpx.Response) and saved.status_code == 303, saved.text
    listing = page(marketer.client.get(saved.headers["location"]))
    summary = [text_of(li) for li in listing.select(".rule-summary li")]
    assert "Last active: within 1 day" in summary, summary
