"""Security headers on every answer, and the API docs working with no internet connection."""

from __future__ import annotations

from fastapi.testclient import TestClient


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


def test_api_docs_load_swagger_ui_from_this_server(app_client: TestClient) -> None:
    page = app_client.get("/docs")
    assert page.status_code == 200
    assert "cdn." not in page.text and "https://" not in page.text.split("<body>")[0]
    assert "/static/vendor/swagger-ui/swagger-ui-bundle.js" in page.text
    script = app_client.get("/static/vendor/swagger-ui/swagger-ui-bundle.js")
    assert script.status_code == 200 and len(script.content) > 100_000
    assert app_client.get("/static/vendor/swagger-ui/swagger-ui.css").status_code == 200
    assert app_client.get("/openapi.json").json()["paths"]["/v1/track"]
