"""What marketers type fits the screen, in a real browser: a long audience name with no space
(200 characters, the most a name may have) wraps in the saved audiences and leaves their
Download and Delete on screen; the export log, its rules in words, fits a 768 px window.

The pages are the app's own, answered by the test's client (its database, its signed-in
marketer): headless Chromium asks for every address (the page, its CSS, htmx, the counts it
loads) and the client answers, so no server or demo is needed. Without /usr/bin/chromium (or
without Playwright) these tests are skipped, as the end-to-end tests are. Runs on SQLite and
PostgreSQL.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Audience
from tests.helpers import People, SourceKey, StaffClient, make_people, make_run

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page, Route

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(tempfile.gettempdir()) / "cdp-e2e-screenshots"  # looked at by hand
DESK, PORTRAIT = (1280, 900), (768, 1024)
NAME_LIMIT = 200


@pytest.fixture()
def marketer(staff_client: Callable[[str], StaffClient]) -> StaffClient:
    return staff_client("marketing")


@pytest.fixture()
def people(
    app_client: Any,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
) -> People:
    return make_people(app_client, web_source, showroom_source, session_factory)


@pytest.fixture()
def open_page(browser: Browser, marketer: StaffClient) -> Iterator[Callable[[str], Page]]:
    """`open_page(url)`: the page as the signed-in marketer sees it, every request answered by
    the test's client."""
    contexts = []

    def answer(route: Route) -> None:
        request = route.request
        path = "/" + request.url.split("/", 3)[3]
        if path.startswith("/alerts/stream"):  # the alert tray's live stream never ends
            route.abort()
            return
        response: httpx.Response = marketer.client.request(
            request.method,
            path,
            headers={k: v for k, v in request.headers.items() if k.lower().startswith("hx-")},
            content=request.post_data_buffer,
            follow_redirects=False,
        )
        headers = {k: v for k, v in response.headers.items() if k.lower() != "content-encoding"}
        route.fulfill(status=response.status_code, headers=headers, body=response.content)

    def make(url: str) -> Page:
        context = browser.new_context(viewport={"width": DESK[0], "height": DESK[1]})
        contexts.append(context)
        page = context.new_page()
        page.route("**/*", answer)
        page.goto(f"http://cdp.test{url}")
        page.wait_for_load_state("networkidle")
        return page

    yield make
    for context in contexts:
        context.close()


def at(page: Page, size: tuple[int, int]) -> None:
    page.set_viewport_size({"width": size[0], "height": size[1]})


def shoot(page: Page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True, animations="disabled")


def fits(page: Page, what: str) -> None:
    """The page does not scroll sideways."""
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"{what}: the page is {width} px wide in a {inner} px window"


def on_screen(page: Page, selector: str) -> None:
    """The element is within the window, and no box around it scrolls it out of sight."""
    found = page.locator(selector).first
    box = found.bounding_box()
    assert box is not None, selector
    inner = page.evaluate("window.innerWidth")
    assert box["x"] >= 0 and box["x"] + box["width"] <= inner, (
        f"{selector} is at {box['x']:.0f}–{box['x'] + box['width']:.0f} px in a {inner} px window"
    )
    scrolled = found.evaluate(
        """element => {
            for (let box = element.parentElement; box; box = box.parentElement) {
                if (box.scrollWidth > box.clientWidth + 1
                    && getComputedStyle(box).overflowX !== 'visible') return box.className;
            }
            return null;
        }"""
    )
    assert scrolled is None, f"{selector} sits in a box that scrolls sideways ({scrolled})"


def long_word() -> str:
    """A name as one unbroken word, as long as a name may be."""
    return ("Nieuwsbrief" + uuid.uuid4().hex).ljust(NAME_LIMIT, "x")


def save(marketer: StaffClient, **fields: Any) -> httpx.Response:
    response = marketer.client.post(
        "/segments/audiences",
        data={"csrf_token": marketer.csrf, "consent": "any", "showroom_visit": "any", **fields},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    return response


def test_a_long_unbroken_audience_name_wraps_and_leaves_its_actions_on_screen(
    marketer: StaffClient, open_page: Callable[[str], Page], session_factory: sessionmaker[Session]
) -> None:
    # A segment's name may be as long, and shows in the builder's choices and the segments' table.
    run = make_run(session_factory, [[], []])
    renamed = marketer.post(f"/segments/{run.segments[0]}/rename", {"name": long_word()})
    assert isinstance(renamed, httpx.Response) and renamed.status_code == 303
    name = long_word()
    save(marketer, name=name, model=["Tundra"], segment=[str(run.segments[0])])
    with session_factory() as session:
        audience_id = session.scalars(select(Audience.id).where(Audience.name == name)).one()
    page = open_page("/segments/audiences")
    row = f"#audience-{audience_id}"
    for size in (DESK, PORTRAIT):
        at(page, size)
        shoot(page, f"audiences-long-name-{size[0]}")
        fits(page, f"the audiences at {size[0]} px")
        on_screen(page, f"{row} a[href$='/export.csv']")
        on_screen(page, f"{row} button[aria-label^='Delete']")
        on_screen(page, f"{row} td.audience-name strong")

    # Editing it: the heading with the name wraps too.
    edit = open_page(f"/segments/audiences?edit={audience_id}")
    for size in (DESK, PORTRAIT):
        at(edit, size)
        shoot(edit, f"audience-edit-long-name-{size[0]}")
        fits(edit, f"the builder changing it at {size[0]} px")
        on_screen(edit, "#audience-name")
        on_screen(edit, f"input[name='segment'][value='{run.segments[0]}']")

    # Deleted: the notice that names it wraps too.
    deleted = marketer.post(f"/segments/audiences/{audience_id}/delete", {"confirm": "yes"})
    assert isinstance(deleted, httpx.Response) and deleted.status_code == 303
    after = open_page("/segments/audiences")
    assert name in after.locator(".flash").inner_text()
    for size in (DESK, PORTRAIT):
        at(after, size)
        fits(after, f"the notice of the deleted audience at {size[0]} px")


def test_the_export_log_reads_in_words_and_fits_a_768_px_window(
    marketer: StaffClient,
    people: People,
    open_page: Callable[[str], Page],
    session_factory: sessionmaker[Session],
) -> None:
    run = make_run(session_factory, [[people.anna, people.bram], [people.finn]])
    name = long_word()
    save(
        marketer,
        name=name,
        segment=[str(run.segments[0])],
        model=["Tundra", "Vela"],
        colour=["Lava Red"],
        lead_stage=["quote", "none"],
        channel=["web"],
        consent="email",
        active_within_days="90",
    )
    with session_factory() as session:
        audience_id = session.scalars(select(Audience.id).where(Audience.name == name)).one()
    assert marketer.client.get(f"/segments/audiences/{audience_id}/export.csv").status_code == 200
    assert marketer.client.get(f"/segments/{run.segments[1]}/export.csv").status_code == 200

    page = open_page("/segments/exports")
    for size in (DESK, PORTRAIT):
        at(page, size)
        shoot(page, f"export-log-{size[0]}")
        fits(page, f"the export log at {size[0]} px")
        on_screen(page, ".export-table tbody tr:first-child td:last-child")
        on_screen(page, ".export-table tbody tr:nth-child(2) td:last-child")
