"""The API documentation (/docs, Swagger UI) used as a developer would: "Authorize" with a write
key and with an API token, then "Try it out" on POST /v1/identify and GET /api/profiles.

In a browser every POST carries the page's origin, and the docs page's origin is this server's own,
which no source registers; before that was allowed, "Try it out" answered 403.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid
from collections.abc import Callable

import pytest

from tests.e2e.helpers import LiveServer, cdp_command, server_environment

sync_api = pytest.importorskip("playwright.sync_api", reason="end-to-end tests need Playwright")
expect = sync_api.expect
Page = sync_api.Page
Locator = sync_api.Locator


def cdp(live_server: LiveServer, *args: str) -> str:
    """Run `cdp ARGS` on the server's database, as an administrator would; its output."""
    done = subprocess.run(
        [*cdp_command(), *args],
        env=server_environment(f"sqlite:///{live_server.database}"),
        cwd=live_server.database.parent,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def secret(output: str, pattern: str) -> str:
    found = re.search(pattern, output)
    assert found, output
    return found.group(1)


def authorize(page: Page, scheme: str, value: str) -> None:
    """Fill one scheme's first field (the Basic user name, or the Bearer value) and apply it."""
    page.get_by_role("button", name=re.compile("Authorize")).first.click()
    block = page.locator(".modal-ux .auth-container").filter(has_text=scheme)
    block.locator("input").first.fill(value)
    block.locator("button.modal-btn.authorize").click()
    expect(block).to_contain_text("Authorized")
    page.locator(".modal-ux button.close-modal").click()


def try_it_out(page: Page, method: str, path: str) -> Locator:
    operation = page.locator(f".opblock-{method}:has(.opblock-summary-path[data-path='{path}'])")
    operation.locator(".opblock-summary").click()
    operation.get_by_role("button", name="Try it out").click()
    return operation


def answer(operation: Locator) -> tuple[int, object]:
    operation.get_by_role("button", name="Execute").click()
    live = operation.locator(".live-responses-table .response")
    expect(live.first).to_be_visible()
    status = int(live.locator(".response-col_status").first.inner_text().split()[0])
    body = live.locator(".response-col_description pre").first.inner_text()
    return status, json.loads(body)


def test_try_it_out_with_a_write_key_and_an_api_token(
    new_page: Callable[..., Page], live_server: LiveServer
) -> None:
    key = secret(
        cdp(live_server, "source", "create", f"Docs {uuid.uuid4().hex[:6]}", "--kind", "web"),
        r"write key \(shown once, keep it safe\): (\S+)",
    )
    token = secret(
        cdp(live_server, "token", "create", f"Docs {uuid.uuid4().hex[:6]}", "--role", "sales"),
        r"API token \(shown once.*\): (\S+)",
    )
    email = f"docs.{uuid.uuid4().hex[:6]}@example.test"

    page = new_page()
    page.goto("/docs")
    expect(page.locator(".swagger-ui .info")).to_be_visible()
    authorize(page, "writeKey", key)
    authorize(page, "apiToken", token)

    identify = try_it_out(page, "post", "/v1/identify")
    body = {"anonymousId": f"doc-{uuid.uuid4().hex[:6]}", "traits": {"email": email}}
    identify.locator("textarea.body-param__text").fill(json.dumps(body))
    status, sent = answer(identify)
    assert status == 200, sent
    assert sent == {"success": True, "accepted": 1, "duplicates": 0, "rejected": []}

    profiles = try_it_out(page, "get", "/api/profiles")
    profiles.locator("input[placeholder='q']").fill(email)
    status, found = answer(profiles)
    assert status == 200, found
    assert isinstance(found, dict)
    assert [r["email"] for r in found["results"]] == [email]
