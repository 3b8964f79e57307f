"""Security headers on every answer, and the API docs working with no internet connection."""

from __future__ import annotations

from collections.abc import Callable

import httpx
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
