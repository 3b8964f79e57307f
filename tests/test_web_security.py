"""Security headers on every answer, and the API docs working with no internet connection."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from bs4 import BeautifulSoup
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.helpers import SourceKey, StaffClient, make_token


def test_pages_may_not_be_framed_sniffed_or_run_foreign_script(app_client: TestClient) -> None:
    response = app_client.get("/login")
    assert response.status_code == 200
    assert response.headers["x-frame-options"] == "DENY"
    assert response.headers["x-content-type-options"] == "nosniff"
    policy = response.headers["content-security-policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy.split("style-src")[0]
    assert "frame-ancestors 'none'" in policy


def test_api_answers_carry_the_headers_too(app_client: TestClient) -> None:
    response = app_client.get("/api/profiles", params={"q": "x"})
    assert response.status_code == 401
    assert response.headers["x-content-type-options"] == "nosniff"


def test_collection_answers_carry_the_headers_and_other_methods_reach_the_app(
    app_client: TestClient, web_source: SourceKey
) -> None:
    message = {"anonymousId": "headers-visitor", "event": "Configuration Started"}
    for path in ("/v1/track", "/v1/t"):  # the fast path, long and one-letter forms
        stored = app_client.post(path, json=message, headers=web_source.auth)
        assert stored.status_code == 200 and stored.json()["success"] is True
        assert stored.headers["x-content-type-options"] == "nosniff"
    refused = app_client.post("/v1/track", json=message)
    assert refused.status_code == 401 and refused.json()["field"] == "writeKey"
    assert refused.headers["x-frame-options"] == "DENY"
    assert app_client.get("/v1/track").status_code == 405  # not the fast path: the app answers
    # Only preflights answer other /v1 paths.
    assert app_client.post("/v1/unknown", json=message).status_code == 405


def test_api_docs_load_swagger_ui_from_this_server(app_client: TestClient) -> None:
    page = app_client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    script = app_client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert app_client.get("/static/vendor/swagger-ui/swagger-ui.css").status_code == 200
    assert app_client.get("/openapi.json").json()["paths"]["/v1/track"]


def test_the_api_documentation_can_send_a_write_key_and_an_api_token(
    app_client: TestClient, web_source: SourceKey
) -> None:
    """`/docs` offers "Authorize" for both: the schemes are declared, and the operations use
    them. The write key goes as the Basic user name, as Segment's libraries send it."""
    spec = app_client.get("/openapi.json").json()
    schemes = spec["components"]["securitySchemes"]
    assert schemes["writeKey"]["scheme"] == "basic"
    assert schemes["apiToken"]["scheme"] == "bearer"
    assert spec["paths"]["/v1/batch"]["post"]["security"] == [{"writeKey": []}]
    assert spec["paths"]["/api/profiles"]["get"]["security"] == [{"apiToken": []}]
    # What "Try it out" sends: the key as the Basic user name, and (as a browser does for every
    # POST) the page's own origin, which no source registers: it is this server, not a website.
    auth = httpx.BasicAuth(web_source.key, "")
    docs_page = {"Origin": "http://testserver", "Sec-Fetch-Site": "same-origin"}
    message = {"anonymousId": "doc", "event": "X"}
    sent = app_client.post("/v1/track", json=message, auth=auth, headers=docs_page)
    assert sent.status_code == 200, sent.text
    assert sent.json()["accepted"] == 1
    # A page of another site, even a sibling one, still needs its origin registered.
    for site, origin in (("same-site", "http://www.testserver"), ("cross-site", "https://x.test")):
        other = {"Origin": origin, "Sec-Fetch-Site": site}
        refused = app_client.post("/v1/track", json=message, auth=auth, headers=other)
        assert refused.status_code == 403 and refused.json()["field"] == "Origin", site
    refused = app_client.get(
        "/api/profiles", params={"q": "x"}, headers={"Authorization": "Bearer"}
    )
    assert refused.status_code == 401 and refused.json()["field"] == "Authorization"


def test_a_mistyped_page_address_is_a_page_not_json(
    staff_client: Callable[[str], StaffClient],
) -> None:
    sales = staff_client("sales")
    html = {"Accept": "text/html,application/xhtml+xml"}
    for path in ("/showroom/tablet/abc", "/no/such/page"):
        response = sales.client.get(path, headers=html)
        assert response.status_code == 404, path
        assert response.headers["content-type"].startswith("text/html")
        assert "Not found" in response.text
    api = sales.client.get("/api/profiles/not-a-uuid")
    assert api.headers["content-type"].startswith("application/json")


def test_a_nul_character_in_a_query_or_body_is_a_400_naming_the_field(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    """PostgreSQL refuses NUL in text parameters: these used to be 500s."""
    bearer = make_token(session_factory, role="admin")
    search = app_client.get("/api/profiles", params={"q": "Jan\x00sen"}, headers=bearer)
    assert search.status_code == 400 and search.json()["field"] == "q"
    form = app_client.post("/login", data={"username": "a\x00", "password": "b"})
    assert form.status_code == 400 and form.json()["field"] == "username"
    erasure = app_client.post(
        "/api/profiles/00000000-0000-0000-0000-000000000000/erasure",
        json={"reason": "x\x00"},
        headers=bearer,
    )
    assert erasure.status_code == 400 and erasure.json()["field"] == "reason"
    fine = app_client.get("/api/profiles", params={"q": "Jansen"}, headers=bearer)
    assert fine.status_code == 200


def test_a_nul_character_in_a_page_form_is_a_page_naming_the_field_with_ways_back(
    staff_client: Callable[[str], StaffClient], session_factory: sessionmaker[Session]
) -> None:
    """A NUL pasted into a form used to show the browser raw JSON, the form gone. A page asking
    for HTML gets an error page naming the field, the way back to the form, and the form to send
    again without the character (the field shown as it would be sent); htmx a fragment it swaps
    in (answered 200: htmx swaps no 4xx); the API its JSON, whoever asks."""
    sales = staff_client("sales")
    customer = "/showroom/customers/00000000-0000-0000-0000-000000000000"
    browser = {
        "Accept": "text/html,application/xhtml+xml",
        "Referer": f"http://testserver{customer}",
    }
    note = sales.client.post(
        f"{customer}/notes",
        data={"csrf_token": sales.csrf, "text": "Called back,\x00 test drive on Saturday"},
        headers=browser,
    )
    assert note.status_code == 400 and note.headers["content-type"].startswith("text/html")
    page = BeautifulSoup(note.text, "html.parser")
    main = page.select_one("main")
    assert main is not None and "The note field holds an invisible control character" in (
        main.get_text(" ", strip=True)
    )
    back = page.select_one("a[data-history-back]")
    assert back is not None and back["href"] == customer
    again = page.select_one(".error-actions form")
    assert again is not None and (again["method"], again["action"]) == ("post", f"{customer}/notes")
    assert [(i["name"], i["value"]) for i in again.select("input[type=hidden]")] == [
        ("csrf_token", sales.csrf),
        ("text", "Called back, test drive on Saturday"),
    ]
    shown = page.select_one(".resend-preview dd")
    assert shown is not None and shown.get_text() == "Called back, test drive on Saturday"
    assert page.select_one('header a[href="/login"]') is None  # signed in: no Sign in offered

    search = sales.client.get(
        "/showroom", params={"q": "Jan\x00sen"}, headers={"Accept": "text/html"}
    )
    assert search.status_code == 400 and "The search field holds" in search.text
    page = BeautifulSoup(search.text, "html.parser")
    again_link = page.select_one(".error-actions a.primary")
    assert again_link is not None and again_link["href"] == "/showroom?q=Jansen"
    back = page.select_one("a[data-history-back]")
    assert back is not None and back["href"] == "/"  # no Referer: the start page
    odd = sales.client.get(
        "/showroom",
        params={"q": "a\x00"},
        headers={"Accept": "text/html", "Referer": "http://testserver//elsewhere.example/x"},
    )
    back = BeautifulSoup(odd.text, "html.parser").select_one("a[data-history-back]")
    assert back is not None and back["href"] == "/"  # "//elsewhere" is no page of ours

    typing = sales.client.get(
        "/showroom/search", params={"q": "Jan\x00sen"}, headers={"HX-Request": "true"}
    )
    assert typing.status_code == 200 and typing.headers["content-type"].startswith("text/html")
    fragment = BeautifulSoup(typing.text, "html.parser")
    message = fragment.select_one("p.error[role=alert]")
    assert message is not None and "The search field holds" in message.get_text()
    assert fragment.find("html") is None

    bearer = make_token(session_factory, role="admin")
    api = sales.client.get("/api/profiles", params={"q": "a\x00"}, headers={**bearer, **browser})
    assert api.status_code == 400 and api.json()["field"] == "q"

    # A password is never written into a page: the way back only.
    password = "correct horse\x00 battery"
    sign_in = sales.client.post(
        "/login", data={"username": "a@example.test", "password": password}, headers=browser
    )
    assert sign_in.status_code == 400 and "The password field holds" in sign_in.text
    assert "correct horse" not in sign_in.text
    assert BeautifulSoup(sign_in.text, "html.parser").select_one(".error-actions form") is None


def test_a_spreadsheet_chosen_instead_of_its_csv_is_told_to_be_saved_as_csv(
    staff_client: Callable[[str], StaffClient],
) -> None:
    """An .xlsx is full of NUL bytes: the advice to type pasted text again made no sense for
    a file. A typed field of the same multipart form keeps that advice."""
    marketing = staff_client("marketing")
    xlsx = b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00spend" * 20
    for headers, kind in (({"Accept": "text/html"}, "page"), ({"HX-Request": "true"}, "htmx")):
        refused = marketing.client.post(
            "/showroom/spend/import",
            data={"csrf_token": marketing.csrf},
            files={"file": ("spend 2026.xlsx", xlsx, "application/vnd.ms-excel")},
            headers=headers,
        )
        said = " ".join(BeautifulSoup(refused.text, "html.parser").get_text(" ").split())
        assert "The file spend 2026.xlsx is not a text file" in said, kind
        assert "Save it as CSV" in said and "type that text again" not in said, kind
    typed = marketing.client.post(
        "/showroom/spend/import",
        data={"csrf_token": marketing.csrf, "note": "pasted\x00"},
        files={"file": ("spend.csv", b"month,channel,amount\n", "text/csv")},
        headers={"HX-Request": "true"},
    )
    assert "The note field holds an invisible control character" in typed.text


def test_a_nul_character_deep_in_an_api_body_is_a_400_not_a_500(
    app_client: TestClient, session_factory: sessionmaker[Session]
) -> None:
    """As deep as the JSON parser accepts (1,024 levels), the NUL check answers: it used to
    recurse once per level and fail past Python's stack."""
    bearer = make_token(session_factory, role="admin")
    body = "[" * 1000 + '"x\\u0000"' + "]" * 1000
    response = app_client.post(
        "/api/profiles/00000000-0000-0000-0000-000000000000/erasure",
        content=body,
        headers={**bearer, "Content-Type": "application/json"},
    )
    assert response.status_code == 400
    assert response.json()["field"].startswith("[0][0][0]")


def test_answers_holding_personal_data_are_not_stored_by_browsers_or_proxies(
    staff_client: Callable[[str], StaffClient],
    session_factory: sessionmaker[Session],
    web_source: SourceKey,
) -> None:
    """A shared showroom computer's cache, or a proxy's, must not keep customers' data."""
    sales = staff_client("sales")
    client = sales.client
    identify = {"anonymousId": "cache-visitor", "traits": {"email": "jan.cache@example.nl"}}
    assert client.post("/v1/identify", json=identify, headers=web_source.auth).status_code == 200
    bearer = make_token(session_factory, role="admin")
    found = client.get("/api/profiles", params={"q": "jan.cache@example.nl"}, headers=bearer)
    profile_id = found.json()["results"][0]["id"]
    answers = {
        "page": client.get("/showroom"),
        "customer page": client.get(f"/showroom/customers/{profile_id}"),
        "search partial": client.get("/showroom/search?q=jan", headers={"HX-Request": "true"}),
        "account": client.get("/account"),
        "sign-in page": client.get("/login"),
        "API search": found,
        "API download (GDPR art. 15)": client.get(
            f"/api/profiles/{profile_id}/data", headers=bearer
        ),
        "API refusal": client.get("/api/profiles", params={"q": "jan"}),
    }
    for what, response in answers.items():
        assert response.status_code in (200, 401), what
        assert response.headers.get("cache-control") == "no-store", what
    # What holds nobody's data may stay as it was: static files, the collection API.
    static = client.get("/static/vendor/swagger-ui/swagger-ui.css")
    assert static.status_code == 200 and "no-store" not in static.headers.get("cache-control", "")
    message = {"anonymousId": "cache-visitor", "event": "Configuration Started"}
    collected = client.post("/v1/track", json=message, headers=web_source.auth)
    assert collected.status_code == 200 and "cache-control" not in collected.headers
