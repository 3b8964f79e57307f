"""A first end-to-end pass: events in over /v1, one profile out over /api."""

import uuid

from fastapi.testclient import TestClient

from tests.helpers import SourceKey


def test_anonymous_visitor_identified_then_second_device_is_one_profile(
    app_client: TestClient, web_source: SourceKey, api_auth: dict[str, str]
) -> None:
    first_device, second_device = str(uuid.uuid4()), str(uuid.uuid4())
    email = f"sanne.{uuid.uuid4().hex[:6]}@example.nl"
    calls = [
        (
            "page",
            {
                "anonymousId": first_device,
                "name": "Configurator",
                "timestamp": "2026-03-01T10:00:00Z",
            },
        ),
        (
            "identify",
            {
                "anonymousId": first_device,
                "traits": {"email": email.upper(), "firstName": "Sanne"},
                "timestamp": "2026-03-01T10:05:00Z",
            },
        ),
        (
            "track",
            {
                "anonymousId": second_device,
                "event": "Configuration Started",
                "properties": {"model": "Aurora"},
                "timestamp": "2026-03-04T20:00:00Z",
            },
        ),
        (
            "identify",
            {
                "anonymousId": second_device,
                "traits": {"email": email},
                "timestamp": "2026-03-04T20:01:00Z",
            },
        ),
        (
            "track",
            {
                "anonymousId": second_device,
                "event": "Configuration Saved",
                "properties": {
                    "configuration_code": "aur-77x",
                    "model": "Aurora",
                    "colour": "Lava Red",
                    "total_price": 45990,
                },
                "timestamp": "2026-03-04T20:20:00Z",
            },
        ),
    ]
    for endpoint, body in calls:
        response = app_client.post(f"/v1/{endpoint}", json=body, headers=web_source.auth)
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True

    found = app_client.get("/api/profiles", params={"q": "AUR-77X"}, headers=api_auth).json()
    assert found["matched_by"] == "configuration code"
    assert len(found["results"]) == 1
    profile = app_client.get(f"/api/profiles/{found['results'][0]['id']}", headers=api_auth).json()
    kinds = sorted(i["kind"] for i in profile["identifiers"])
    assert kinds == ["anonymous_id", "anonymous_id", "config_code", "email"]
    assert profile["traits"]["email"] == email
    assert profile["session_count"] == 2
    assert [c["code"] for c in profile["configurations"]] == ["AUR-77X"]
    assert profile["configurations"][0]["colour"] == "Lava Red"
    assert len(profile["timeline"]) == 5
