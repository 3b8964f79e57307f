"""A person's data from the admin pages (GDPR art. 15 and 17), on both databases.

An admin finds the person by e-mail address, downloads the same JSON copy the API gives, and
erases them only with a reason and the typed confirmation; the erasure deletes what the API's
erasure deletes. Other roles get neither the page nor its actions; every action needs the CSRF
token.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cdp.models import Erasure
from tests.helpers import SourceKey, StaffClient, make_token, post, soup, text_at

NOW = datetime.now(UTC).replace(microsecond=0)


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def make_person(client: TestClient, source: SourceKey, name: str) -> tuple[uuid.UUID, str]:
    """Two devices merged into one profile, e-mail consent, a saved car, a test-drive lead."""
    tag = uuid.uuid4().hex[:6]
    email, laptop, phone = f"{name.lower()}.{tag}@example.test", f"l-{tag}", f"p-{tag}"

    def msg(kind: str, device: str, minute: int, **fields: Any) -> dict[str, Any]:
        return {"type": kind, "anonymousId": device, "messageId": uuid.uuid4().hex,
                "timestamp": iso(NOW - timedelta(days=1, minutes=-minute)), **fields}  # fmt: skip

    for messages in (
        [msg("identify", laptop, 0, traits={"email": email, "first_name": name},
             context={"consent": {"categoryPreferences": {"email": True}}}),
         msg("track", laptop, 1, event="Configuration Saved",
             properties={"configuration_code": f"NW-{tag}", "model": "Aurora"}),
         msg("track", laptop, 2, event="Test Drive Requested", properties={"model": "Aurora"})],
        [msg("page", phone, 3, name="Configurator")],
        [msg("identify", phone, 4, traits={"email": email})],
    ):  # fmt: skip
        answer = client.post("/v1/batch", json={"batch": messages}, headers=source.auth)
        assert answer.status_code == 200, answer.text
    factory: sessionmaker[Session] = client.app.state.sessionmaker  # type: ignore[attr-defined]
    found = client.get("/api/profiles", params={"q": email}, headers=make_token(factory))
    [row] = found.json()["results"]
    return uuid.UUID(row["id"]), email


def test_an_admin_downloads_the_same_copy_and_erases_with_a_typed_confirmation(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    staff_client: Callable[..., StaffClient],
) -> None:
    emma, emma_email = make_person(app_client, web_source, "Emma")
    finn, _finn_email = make_person(app_client, web_source, "Finn")
    api = make_token(session_factory, role="admin")
    admin = staff_client("admin")

    page = soup(admin.client.get("/admin/privacy", params={"who": emma_email.upper()}).text)
    assert text_at(page, "#person-h") == "Emma"
    assert "1 merged profile" in text_at(page, ".person")
    assert page.select_one(".copy-form input[name=csrf_token]") is not None
    assert page.select_one(".erase-form input[name=csrf_token]") is not None
    assert page.select_one("nav a[href='/admin/privacy']") is not None
    missing = admin.client.get("/admin/privacy", params={"who": "nobody@example.test"})
    assert missing.status_code == 404
    assert "no profile matches" in text_at(soup(missing.text), "#who-error")

    # The copy: the JSON the API gives, as a download.
    copy = post(admin, "/admin/privacy/copy", {"who": str(emma)})
    assert copy.status_code == 200
    assert copy.headers["content-disposition"] == f'attachment; filename="profile-{emma}.json"'
    assert copy.headers["cache-control"] == "no-store"
    from_page = json.loads(copy.text)
    from_api = app_client.get(f"/api/profiles/{emma}/data", headers=api).json()
    for data in (from_page, from_api):  # when, and who looked (the page's download is a view)
        data.pop("generated_at")
        data.pop("viewed_by")
    assert from_page == from_api
    assert len(from_page["events"]) == 5 and from_page["merged_profile_ids"]

    # Erasure: a reason and the typed word, or nothing happens and the form says why.
    url = "/admin/privacy/erase"
    refused = post(admin, url, {"who": str(emma), "reason": " ", "confirm": "erase it"})
    assert refused.status_code == 400
    form = soup(refused.text)
    assert "Say why" in text_at(form, "#reason-error")
    assert "Type ERASE" in text_at(form, "#confirm-error")
    assert form.select_one("input[name=confirm][aria-invalid=true]") is not None
    unconfirmed = post(admin, url, {"who": str(emma), "reason": "asked by e-mail", "confirm": ""})
    assert unconfirmed.status_code == 400
    assert 'value="asked by e-mail"' in unconfirmed.text  # what they typed is kept
    no_token = admin.client.post(url, data={"who": str(emma), "reason": "x", "confirm": "ERASE"})
    assert no_token.status_code == 403
    assert app_client.get(f"/api/profiles/{emma}", headers=api).status_code == 200

    done = post(admin, url, {"who": str(emma), "reason": "asked by e-mail", "confirm": "ERASE"})
    assert done.status_code == 303 and done.headers["location"].startswith("/admin/privacy?erased=")
    notice = text_at(soup(admin.client.get(done.headers["location"]).text), "#erased-notice")
    assert str(emma) in notice and "asked" not in notice  # counts, no reason or personal data
    assert app_client.get(f"/api/profiles/{emma}", headers=api).status_code == 404
    assert (
        app_client.get("/api/profiles", params={"q": emma_email}, headers=api).json()["results"]
        == []
    )

    # The same result as the API's erasure of a person with the same history.
    by_api = app_client.post(f"/api/profiles/{finn}/erasure", json={"reason": "asked"}, headers=api)
    assert by_api.status_code == 200, by_api.text
    with session_factory() as session:
        by_page = session.scalars(select(Erasure).where(Erasure.profile_id == emma)).one()
        assert by_page.erased_by.endswith(f"<{admin.email}>")
        counts = dict(by_page.counts)
    # Emma's views (the download, and the test's two API reads) went with her; Finn had none.
    assert counts.pop("views") == 3
    assert counts == by_api.json()["deleted"]


def test_only_admins_may_copy_or_erase(
    app_client: TestClient,
    web_source: SourceKey,
    staff_client: Callable[..., StaffClient],
) -> None:
    gus, _email = make_person(app_client, web_source, "Gus")
    for role in ("manager", "sales", "marketing"):
        staff = staff_client(role)
        page = staff.client.get("/admin/privacy")
        assert page.status_code == 403, role
        assert post(staff, "/admin/privacy/copy", {"who": str(gus)}).status_code == 403
        erase = post(staff, "/admin/privacy/erase", {"who": str(gus), "reason": "x",
                                                     "confirm": "ERASE"})  # fmt: skip
        assert erase.status_code == 403
        home = soup(staff.client.get("/account").text)
        assert home.select_one("nav a[href='/admin/privacy']") is None
    admin = staff_client("admin")
    assert admin.client.get(f"/api/profiles/{gus}").status_code in (401, 403)  # no token
    assert admin.client.get("/admin/privacy").status_code == 200
