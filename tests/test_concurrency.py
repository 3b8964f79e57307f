"""Truly simultaneous requests through a real HTTP server on PostgreSQL.

A fresh, migrated PostgreSQL database and the app served by uvicorn in a background thread;
requests are fired from a thread pool, released together by a barrier, over real sockets.
Covers: several devices introducing the same new email at once end in one profile; existing
anonymous profiles identified at once are merged into one (every event kept); retries of one
message racing each other are stored once. Each scenario runs several rounds. SQLite is skipped:
it lets one writer in at a time, so there is no race to test.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cdp.models import Event, Identity, Profile, ProfileMerge
from tests.helpers import (
    PARALLEL,
    ThreadedServer,
    fire_together,
    post_to_server,
)

ROUNDS = 4


def owners(session: Session, values: list[str]) -> set[uuid.UUID]:
    return set(session.scalars(select(Identity.profile_id).where(Identity.value.in_(values))))


def assert_all_ok(responses: list[httpx.Response]) -> None:
    for response in responses:
        assert response.status_code == 200, response.text
        assert response.json()["success"] is True


def rounds(scenario: Callable[[str], None]) -> None:
    for n in range(ROUNDS):
        scenario(f"r{n}-{uuid.uuid4().hex[:8]}")


def test_simultaneous_requests_introducing_one_new_email_make_one_profile(
    threaded_server: ThreadedServer,
) -> None:
    def scenario(run: str) -> None:
        email = f"race.{run}@example.nl"
        devices = [f"{run}-device-{i}" for i in range(PARALLEL)]
        calls = [
            ("identify", {"anonymousId": d, "messageId": f"{d}-id", "traits": {"email": email}})
            for d in devices
        ]
        assert_all_ok(fire_together(threaded_server, calls))

        with threaded_server.session() as session:
            [profile] = owners(session, [email, *devices])
            assert session.scalar(select(func.count()).where(Identity.value == email)) == 1
            events = session.scalars(
                select(Event.profile_id).where(Event.anonymous_id.in_(devices))
            ).all()
            assert events == [profile] * PARALLEL
            assert (
                session.scalar(select(Profile.merged_into_id).where(Profile.id == profile)) is None
            )

    rounds(scenario)


def test_simultaneous_identifies_merge_existing_anonymous_profiles_into_one(
    threaded_server: ThreadedServer,
) -> None:
    def scenario(run: str) -> None:
        email = f"merge.{run}@example.nl"
        devices = [f"{run}-device-{i}" for i in range(PARALLEL)]
        for d in devices:  # each device browsed anonymously first: one profile each
            post_to_server(
                threaded_server,
                "page",
                {"anonymousId": d, "messageId": f"{d}-page", "name": "Home"},
            )
        with threaded_server.session() as session:
            before = owners(session, devices)
        assert len(before) == PARALLEL

        calls = [
            ("identify", {"anonymousId": d, "messageId": f"{d}-id", "traits": {"email": email}})
            for d in devices
        ]
        assert_all_ok(fire_together(threaded_server, calls))

        with threaded_server.session() as session:
            [survivor] = owners(session, [email, *devices])
            assert survivor in before
            events = session.scalars(
                select(Event.profile_id).where(Event.anonymous_id.in_(devices))
            ).all()
            assert events == [survivor] * (2 * PARALLEL)
            absorbed = before - {survivor}
            merged_into = dict(
                session.execute(
                    select(Profile.id, Profile.merged_into_id).where(Profile.id.in_(absorbed))
                ).all()
            )
            assert merged_into == dict.fromkeys(absorbed, survivor)
            merges = session.scalars(
                select(ProfileMerge.absorbed_id).where(ProfileMerge.absorbed_id.in_(absorbed))
            ).all()
            assert sorted(merges) == sorted(absorbed)

    rounds(scenario)


def test_racing_retries_of_one_message_are_stored_once(threaded_server: ThreadedServer) -> None:
    def scenario(run: str) -> None:
        body: dict[str, Any] = {
            "anonymousId": f"{run}-device",
            "messageId": f"{run}-retry",
            "event": "Configuration Saved",
            "properties": {"configuration_code": f"{run}-code", "model": "Aurora"},
        }
        responses = fire_together(threaded_server, [("track", body)] * PARALLEL)
        assert_all_ok(responses)
        assert sum(r.json()["duplicates"] for r in responses) == PARALLEL - 1

        with threaded_server.session() as session:
            assert (
                session.scalar(select(func.count()).where(Event.message_id == body["messageId"]))
                == 1
            )
            assert len(owners(session, [body["anonymousId"]])) == 1
            assert (
                session.scalar(select(func.count()).where(Identity.value == body["anonymousId"]))
                == 1
            )

    rounds(scenario)
