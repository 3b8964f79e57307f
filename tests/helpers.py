"""What the tests share besides fixtures: databases, sources and tokens, staff sign-in, the
customers, leads and segmentation runs most tests start from, and running the cdp command."""

from __future__ import annotations

import base64
import os
import random
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from alembic import command
from bs4 import BeautifulSoup, Tag
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text
from sqlalchemy.orm import Session, sessionmaker

from cdp.auth.service import create_source, create_token
from cdp.db import make_engine
from cdp.demo.people import Person, Registry, make_person
from cdp.migrate import alembic_config
from cdp.models import (
    Event,
    Identity,
    Lead,
    QuarantinedMessage,
    Segment,
    SegmentMembership,
    SegmentRun,
    StaffUser,
    TabletSession,
    utcnow,
)

PG_ADMIN_URL = os.environ.get(
    "CDP_TEST_PG_ADMIN_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


# Process id too: two test runs at once (a developer's and a helper's) must not share databases.
WORKER = f"{os.environ.get('PYTEST_XDIST_WORKER', 'main')}_{os.getpid()}"


def _pg_available() -> bool:
    try:
        engine = create_engine(PG_ADMIN_URL, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


PG_AVAILABLE = _pg_available()


def fresh_database_url(kind: str, tmp_dir: Path, name: str) -> str:
    """A new, empty database of the given kind (not migrated)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_dir / (name + '.sqlite3')}"
    db_name = f"cdp_test_{name}_{WORKER}".lower()
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{db_name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{db_name}"'))
    admin.dispose()
    return PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{db_name}"


def drop_database(url: str) -> None:
    """Remove a PostgreSQL test database made by fresh_database_url (SQLite files go with tmp)."""
    if not url.startswith("postgresql"):
        return
    name = url.rsplit("/", 1)[1]
    admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


@dataclass
class SourceKey:
    id: int
    name: str
    key: str

    @property
    def auth(self) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{self.key}:".encode()).decode()}


def make_source(
    factory: sessionmaker[Session], *, kind: str = "web", origins: list[str] | None = None
) -> SourceKey:
    with factory() as session:
        source, key = create_source(
            session, name=f"{kind}-{uuid.uuid4().hex[:8]}", kind=kind, origins=origins or []
        )
        session.commit()
        return SourceKey(id=source.id, name=source.name, key=key)


def make_token(
    factory: sessionmaker[Session], *, role: str = "sales", dealer: str | None = None
) -> dict[str, str]:
    """An API token's Authorization header; `dealer`: the token reads that dealer's data only."""
    with factory() as session:
        _token, secret = create_token(
            session, name=f"token-{uuid.uuid4().hex[:6]}", role=role, dealer=dealer
        )
        session.commit()
    return {"Authorization": f"Bearer {secret}"}


STAFF_PASSWORD = "correct-horse-battery"


def make_staff(
    factory: sessionmaker[Session],
    *,
    role: str = "sales",
    name: str | None = None,
    dealers: tuple[str, ...] = (),
) -> str:
    """A staff user with STAFF_PASSWORD, working at the dealers with these codes (none: the
    rule of cdp/dealers/service.py); returns their e-mail address."""
    from cdp.auth.staff import create_user

    email = f"{role}.{uuid.uuid4().hex[:8]}@dealer.example"
    with factory() as session:
        create_user(
            session, email=email, role=role, name=name, password=STAFF_PASSWORD, dealers=dealers
        )
        session.commit()
    return email


def make_dealer(factory: sessionmaker[Session], code: str, **fields: Any) -> int:
    """A dealer with this code (and its code as name; other DealerFields as given, such as
    postal_areas="5611 56", opening_hours or active=False); returns its id."""
    from cdp.dealers.schemas import DealerFields
    from cdp.dealers.service import create_dealer

    with factory() as session:
        dealer = create_dealer(session, DealerFields(code=code, name=code, **fields))
        session.commit()
        return dealer.id


def sign_in(client: TestClient, email: str, password: str = STAFF_PASSWORD) -> str:
    """Sign the client in through the real form; returns the session's CSRF token."""
    from bs4 import BeautifulSoup

    form = BeautifulSoup(client.get("/login").text, "html.parser")
    token_input = form.find("input", attrs={"name": "csrf_token"})
    assert token_input is not None
    response = client.post(
        "/login",
        data={
            "email": email,
            "password": password,
            "csrf_token": token_input["value"],
            "next": "/showroom",
        },
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    account = BeautifulSoup(client.get("/account").text, "html.parser")
    csrf_input = account.find("input", attrs={"name": "csrf_token"})
    assert csrf_input is not None
    return str(csrf_input["value"])


@dataclass
class StaffClient:
    client: TestClient
    email: str
    csrf: str

    def post(self, url: str, data: dict[str, str] | None = None, **kwargs: object) -> object:
        return self.client.post(
            url, data={"csrf_token": self.csrf, **(data or {})}, follow_redirects=False, **kwargs
        )  # type: ignore[arg-type]


def make_customer(
    client: TestClient,
    source: SourceKey,
    factory: sessionmaker[Session],
    *,
    first_name: str = "Sanne",
    last_name: str = "de Vries",
    model: str | None = "Aurora",
    code: str | None = None,
    events: list[tuple[str, dict[str, Any]]] | None = None,
) -> uuid.UUID:
    """An identified customer (and a saved configuration) sent through the collection API."""
    device = str(uuid.uuid4())
    email = f"{first_name.lower()}.{uuid.uuid4().hex[:8]}@example.nl"
    calls: list[tuple[str, dict[str, Any]]] = [
        (
            "identify",
            {
                "anonymousId": device,
                "traits": {"email": email, "firstName": first_name, "lastName": last_name},
            },
        )
    ]
    if model:
        calls.append(
            (
                "track",
                {
                    "anonymousId": device,
                    "event": "Configuration Saved",
                    "properties": {
                        "configuration_code": code or f"AUR-{uuid.uuid4().hex[:5].upper()}",
                        "model": model,
                        "trim": "GT Line",
                        "engine": "2.0 Hybrid",
                        "colour": "Lava Red",
                        "colour_hex": "#b3261e",
                        "total_price": 45990,
                    },
                },
            )
        )
    for name, properties in events or []:
        calls.append(("track", {"anonymousId": device, "event": name, "properties": properties}))
    for endpoint, body in calls:
        response = client.post(f"/v1/{endpoint}", json=body, headers=source.auth)
        assert response.status_code == 200, response.text
    with factory() as session:
        return session.scalars(
            select(Identity.profile_id).where(Identity.kind == "email", Identity.value == email)
        ).one()


def user_id(factory: sessionmaker[Session], email: str) -> int:
    with factory() as session:
        return session.scalars(select(StaffUser.id).where(StaffUser.email == email)).one()


def count(factory: sessionmaker[Session], model: type[Any], *where: Any) -> int:
    with factory() as session:
        return session.scalar(select(func.count()).select_from(model).where(*where)) or 0


def get_lead(factory: sessionmaker[Session], lead_id: int) -> Lead:
    with factory() as session:
        lead = session.get(Lead, lead_id)
        assert lead is not None
        return lead


def only_lead(factory: sessionmaker[Session], profile_id: uuid.UUID) -> Lead:
    with factory() as session:
        return session.scalars(select(Lead).where(Lead.profile_id == profile_id)).one()


def post(staff: StaffClient, url: str, data: dict[str, str] | None = None) -> httpx.Response:
    """A form post with the signed-in person's CSRF token, redirects not followed."""
    response = staff.post(url, data)
    assert isinstance(response, httpx.Response)
    return response


def text_at(node: BeautifulSoup | Tag, selector: str) -> str:
    found = node.select_one(selector)
    assert found is not None, selector
    return found.get_text(" ", strip=True)


def soup(html: str) -> BeautifulSoup:
    return BeautifulSoup(html, "html.parser")


def field_error_text(html: str) -> str:
    return " ".join(p.get_text(" ", strip=True) for p in soup(html).select(".field-error"))


# Digits that are not ASCII digits (str.isdigit() is true for them), and ids beyond PostgreSQL's
# integer column: none can name a row. Shared with test_today.py and test_deliveries.py.
HOSTILE_IDS = ["²", "٣", "2147483648", "99999999999", "999999999999"]


# The first minutes of 0001-01-01 in the showroom have no UTC time (a 500 before); the rest are
# simply in the past, or too far ahead.
CALENDAR_ENDS = [
    ("0001-01-01", "00:00"),
    ("0001-01-01", "00:19"),
    ("0001-01-01", ""),
    ("9999-12-31", "23:59"),
    ("9999-12-31", ""),
]


# --- factories shared with test_export.py and test_segments_pages.py ----------------------------
def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def send(client: TestClient, source: SourceKey, endpoint: str, body: dict[str, Any]) -> None:
    response = client.post(f"/v1/{endpoint}", json=body, headers=source.auth)
    assert response.status_code == 200, response.text


def customer(
    client: TestClient,
    source: SourceKey,
    factory: sessionmaker[Session],
    *,
    first_name: str | None = "Anna",
    last_name: str | None = "de Vries",
    email: bool = True,
    language: str | None = "nl",
    consent: dict[str, Any] | None = None,
    model: str | None = "Tundra",
    trim: str = "Summit",
    colour: str = "Lava Red",
    colour_hex: str = "#b3261e",
    body_type: str | None = None,
    url: str | None = "auto",
    at: datetime | None = None,
    showroom: SourceKey | None = None,
    consent_later: list[tuple[timedelta, dict[str, Any]]] | None = None,
) -> uuid.UUID:
    """A customer sent through the collection API: identify (traits, consent), then a saved
    configuration; optionally a showroom tablet event and later consent statements."""
    device = str(uuid.uuid4())
    moment = at or utcnow() - timedelta(hours=1)
    address = f"{(first_name or 'x').lower()}.{uuid.uuid4().hex[:8]}@example.nl"
    traits: dict[str, Any] = {}
    if email:
        traits["email"] = address
    if first_name is not None:
        traits["firstName"] = first_name
    if last_name is not None:
        traits["lastName"] = last_name
    if language is not None:
        traits["language"] = language
    if consent is not None:
        traits["consent"] = consent
    send(
        client,
        source,
        "identify",
        {"anonymousId": device, "traits": traits, "timestamp": iso(moment)},
    )
    if model is not None:
        code = f"NW-{uuid.uuid4().hex[:6].upper()}"
        properties: dict[str, Any] = {
            "configuration_code": code,
            "model": model,
            "trim": trim,
            "colour": colour,
            "colour_hex": colour_hex,
            "total_price": 45990,
        }
        if body_type is not None:
            properties["body_type"] = body_type
        if url == "auto":
            properties["url"] = f"https://configurator.example.com/c/{code}"
        elif url is not None:
            properties["url"] = url
        send(
            client,
            source,
            "track",
            {
                "anonymousId": device,
                "event": "Configuration Saved",
                "properties": properties,
                "timestamp": iso(moment + timedelta(minutes=1)),
            },
        )
    for delay, statement in consent_later or []:
        # With the address, as analytics.js sends the traits it keeps: consent is given for one.
        later = {"consent": statement, **({"email": address} if email else {})}
        send(
            client,
            source,
            "identify",
            {
                "anonymousId": device,
                "traits": later,
                "timestamp": iso(moment + delay),
            },
        )
    if showroom is not None:
        send(
            client,
            showroom,
            "track",
            {
                "anonymousId": device,
                "event": "Configuration Started",
                "properties": {"model": model or "Vela"},
                "timestamp": iso(moment + timedelta(minutes=2)),
            },
        )
    with factory() as session:
        return session.scalars(
            select(Identity.profile_id).where(
                Identity.kind == "anonymous_id", Identity.value == device
            )
        ).one()


def make_run(
    factory: sessionmaker[Session],
    members: list[list[uuid.UUID]],
    *,
    names: list[str] | None = None,
    design: list[float] | None = None,
    created_by: str = "cli",
) -> Run:
    """A finished segmentation run with these members per segment, as the clustering job
    stores it (feature means, summary, sizes)."""
    now = utcnow()
    with factory() as session:
        run = SegmentRun(
            status="done",
            progress=1.0,
            stage="done",
            parameters={"k": len(members), "seed": 0},
            quality={
                "k": len(members),
                "silhouette": 0.41,
                "sizes": [len(m) for m in members],
                "feature_stds": {"design_share": 0.2, "price_k": 10.0},
            },
            profiles=sum(len(m) for m in members),
            segments=len(members),
            created_by=created_by,
            created_at=now,
            finished_at=now,
        )
        session.add(run)
        session.flush()
        ids = []
        for number, profile_ids in enumerate(members, 1):
            share = (design or [0.7, 0.1, 0.4, 0.2])[number - 1]
            segment = Segment(
                run_id=run.id,
                number=number,
                name=(names or [])[number - 1] if names else f"Segment {number}",
                description=f"Description of segment {number}",
                size=len(profile_ids),
                profile={
                    "features": {
                        "design_share": {
                            "label": "design",
                            "unit": "share",
                            "group": "interest",
                            "segment": share,
                            "overall": 0.35,
                            "z": round((share - 0.35) / 0.2, 2),
                        },
                        "price_k": {
                            "label": "configured price",
                            "unit": "k€",
                            "group": "car",
                            "segment": 40.0 + number,
                            "overall": 42.0,
                            "z": round((number - 2) / 10, 2),
                        },
                    }
                },
                summary={
                    "models": [{"name": "Tundra", "profiles": len(profile_ids), "share": 1.0}],
                    "colours": [
                        {
                            "name": "Lava Red",
                            "hex": "#b3261e",
                            "profiles": len(profile_ids),
                            "share": 1.0,
                        }
                    ],
                    "body_types": [],
                    "email_consent": {"profiles": 1, "share": 0.5},
                },
            )
            session.add(segment)
            session.flush()
            ids.append(segment.id)
            session.add_all(
                SegmentMembership(run_id=run.id, segment_id=segment.id, profile_id=pid)
                for pid in profile_ids
            )
        session.commit()
        return Run(id=run.id, segments=ids)


# --- the people of these tests ------------------------------------------------------------------
@dataclass
class People:
    anna: uuid.UUID  # e-mail granted; Tundra (SUV) in Lava Red; lead at quote; web
    bram: uuid.UUID  # e-mail granted, then withdrawn; Vela (hatchback); seen 100 days ago
    chris: uuid.UUID  # no consent; Lumo (compact SUV) in lava red; visited the showroom; new lead
    dana: uuid.UUID  # e-mail granted, objected to profiling; Tundra in white; phone granted
    eve: uuid.UUID  # anonymous, no e-mail: a Tundra saved
    finn: uuid.UUID  # e-mail granted; no configuration

    @property
    def everyone(self) -> list[uuid.UUID]:
        return [self.anna, self.bram, self.chris, self.dana, self.eve, self.finn]


def make_people(
    client: TestClient, web: SourceKey, showroom: SourceKey, factory: sessionmaker[Session]
) -> People:
    now = utcnow()
    anna = customer(client, web, factory, first_name="Anna", consent={"email": True})
    bram = customer(
        client,
        web,
        factory,
        first_name="Bram",
        consent={"email": True},
        model="Vela",
        colour="Glacier White",
        at=now - timedelta(days=100),
        consent_later=[(timedelta(days=1), {"email": False})],
    )
    chris = customer(
        client, web, factory, first_name="Chris", model="Lumo", colour="lava red",
        showroom=showroom,
    )  # fmt: skip
    dana = customer(
        client,
        web,
        factory,
        first_name="Dana",
        consent={"email": True, "tracking": False, "phone": True},
        colour="Glacier White",
    )
    eve = customer(client, web, factory, first_name=None, last_name=None, email=False)
    finn = customer(client, web, factory, first_name="Finn", consent={"email": True}, model=None)
    add_lead(factory, anna, "quote", age=timedelta(days=1))
    add_lead(factory, anna, "lost", age=timedelta(days=30))  # older: not the latest
    add_lead(factory, chris, "new", age=timedelta(hours=2))
    return People(anna, bram, chris, dana, eve, finn)


CDP = Path(sys.executable).parent / "cdp"


@dataclass
class Result:
    code: int
    out: str
    err: str


def cdp_env(database_url: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env["CDP_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return env


def add_lead(
    factory: sessionmaker[Session], profile_id: uuid.UUID, stage: str, *, age: timedelta
) -> None:
    """A lead as the showroom leaves it (lead stages are the showroom's, not ours)."""
    when = utcnow() - age
    with factory() as session:
        session.add(
            Lead(
                profile_id=profile_id,
                channel="website",
                stage=stage,
                created_at=when,
                updated_at=when,
            )
        )
        session.commit()


@dataclass
class Run:
    id: int
    segments: list[int]


ROOT = Path(__file__).resolve().parents[1]


# --- helpers ----------------------------------------------------------------------------------
def tablet_page(response: httpx.Response) -> BeautifulSoup:
    return BeautifulSoup(response.text, "html.parser")


def tablet_post(
    staff: StaffClient, url: str, data: dict[str, Any] | None = None, **kw: Any
) -> httpx.Response:
    response = staff.post(url, data, **kw)
    assert isinstance(response, httpx.Response)
    return response


def start(staff: StaffClient) -> int:
    response = tablet_post(staff, "/showroom/tablet/sessions")
    assert response.status_code == 303, response.text
    match = re.fullmatch(r"/showroom/tablet/(\d+)/customer", response.headers["location"])
    assert match, response.headers["location"]
    return int(match.group(1))


def add_customer(staff: StaffClient, sid: int, **fields: Any) -> httpx.Response:
    return tablet_post(staff, f"/showroom/tablet/{sid}/customer/new", fields)


def choose(
    staff: StaffClient, sid: int, step: str, code: str, htmx: bool = False
) -> httpx.Response:
    return tablet_post(
        staff,
        f"/showroom/tablet/{sid}/choose",
        {"step": step, "code": code},
        headers=HTMX if htmx else {},
    )


def go(staff: StaffClient, sid: int, step: str, htmx: bool = False) -> httpx.Response:
    return tablet_post(
        staff, f"/showroom/tablet/{sid}/step", {"step": step}, headers=HTMX if htmx else {}
    )


def tablet_row(db: Session, sid: int) -> TabletSession:
    db.expire_all()
    row = db.get(TabletSession, sid)
    assert row is not None
    return row


def event_count(db: Session) -> int:
    db.expire_all()
    return db.scalar(select(func.count()).select_from(Event)) or 0


def save(staff: StaffClient, sid: int) -> str:
    response = tablet_post(staff, f"/showroom/tablet/{sid}/save")
    assert response.status_code == 303, response.text
    assert response.headers["location"] == f"/showroom/tablet/{sid}/saved"
    saved = tablet_page(staff.client.get(f"/showroom/tablet/{sid}/saved"))
    code_el = saved.find(class_="t-code")
    assert code_el is not None
    code = code_el.get_text(strip=True)
    assert re.fullmatch(r"NW-[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{6}", code)
    return code


def pack(
    staff: StaffClient, sid: int, code: str, add: bool = True, htmx: bool = False
) -> httpx.Response:
    return tablet_post(
        staff,
        f"/showroom/tablet/{sid}/pack",
        {"add" if add else "remove": code},
        headers=HTMX if htmx else {},
    )


def events_of(db: Session, anonymous_id: str) -> list[Event]:
    db.expire_all()
    return list(
        db.scalars(select(Event).where(Event.anonymous_id == anonymous_id).order_by(Event.id))
    )


def configure_a_car(staff: StaffClient, sid: int, *, htmx: bool) -> None:
    """Sterna Dynamic, long range, Polar Blue, 20" wheels, nappa, Safety Pack (Winter removed)."""
    for response in (
        choose(staff, sid, "model", "sterna", htmx),
        go(staff, sid, "trim", htmx),
        choose(staff, sid, "trim", "dynamic", htmx),
        go(staff, sid, "engine", htmx),
        choose(staff, sid, "engine", "lr-rwd220", htmx),
        go(staff, sid, "colour", htmx),
        choose(staff, sid, "colour", "polar-blue", htmx),
        go(staff, sid, "wheels", htmx),
        choose(staff, sid, "wheels", "20-diamond", htmx),
        go(staff, sid, "interior", htmx),
        choose(staff, sid, "interior", "black-nappa", htmx),
        go(staff, sid, "packs", htmx),
        pack(staff, sid, "safety", htmx=htmx),
        pack(staff, sid, "winter", htmx=htmx),
        pack(staff, sid, "winter", add=False, htmx=htmx),
        go(staff, sid, "summary", htmx),
    ):
        if htmx:
            assert response.status_code == 200, response.text
            assert tablet_page(response).find(id="configurator") is not None
            assert "<html" not in response.text  # a partial, not the whole page
        else:
            assert response.status_code == 303, response.text
            assert response.headers["location"] == f"/showroom/tablet/{sid}/configure"


HTMX = {"HX-Request": "true"}


def uid(prefix: str = "a") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def post_v1(
    client: TestClient,
    source: SourceKey | None,
    endpoint: str,
    body: Any,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    all_headers = dict(source.auth) if source else {}
    all_headers.update(headers or {})
    response: httpx.Response = client.post(f"/v1/{endpoint}", json=body, headers=all_headers)
    return response


def post_v1_raw(
    client: TestClient, source: SourceKey, endpoint: str, content: bytes
) -> httpx.Response:
    headers = {**source.auth, "Content-Type": "application/json"}
    response: httpx.Response = client.post(f"/v1/{endpoint}", content=content, headers=headers)
    return response


def events_by_anonymous_id(db: Session, anonymous_id: str) -> list[Event]:
    db.expire_all()
    return list(
        db.scalars(select(Event).where(Event.anonymous_id == anonymous_id).order_by(Event.id))
    )


def quarantine_of(db: Session, source: SourceKey) -> list[QuarantinedMessage]:
    db.expire_all()
    return list(
        db.scalars(
            select(QuarantinedMessage)
            .where(QuarantinedMessage.source_id == source.id)
            .order_by(QuarantinedMessage.id)
        )
    )


def run_cdp(*args: str, database_url: str, cwd: Path, stdin: str = "") -> Result:
    done = subprocess.run(
        [str(CDP), *args], env=cdp_env(database_url), cwd=cwd, input=stdin,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    return Result(done.returncode, done.stdout, done.stderr)


PARALLEL = 8


TIMEOUT = 30.0


@dataclass
class ThreadedServer:
    base_url: str
    auth: dict[str, str]
    engine: Engine

    def session(self) -> Session:
        return Session(self.engine)


def fire_together(
    server: ThreadedServer, calls: list[tuple[str, dict[str, Any]]]
) -> list[httpx.Response]:
    """POST every (endpoint, body) at the same moment, one thread and connection each."""
    barrier = threading.Barrier(len(calls), timeout=TIMEOUT)

    def call(endpoint: str, body: dict[str, Any]) -> httpx.Response:
        with httpx.Client(base_url=server.base_url, timeout=TIMEOUT) as client:
            client.get("/healthz")  # open the connection before the barrier
            barrier.wait()
            return client.post(f"/v1/{endpoint}", json=body, headers=server.auth)

    with ThreadPoolExecutor(max_workers=len(calls)) as pool:
        futures = [pool.submit(call, endpoint, body) for endpoint, body in calls]
        return [f.result(timeout=TIMEOUT * 2) for f in futures]


def post_to_server(server: ThreadedServer, endpoint: str, body: dict[str, Any]) -> None:
    response = httpx.post(f"{server.base_url}/v1/{endpoint}", json=body, headers=server.auth)
    assert response.status_code == 200, response.text


def send_people(client: TestClient, source: SourceKey, count: int, seed: int) -> list[Person]:
    """Demo people (cdp/demo/people.py) with their names, e-mail and address, sent as identify
    calls; the people, in order."""
    rng, registry = random.Random(seed), Registry()
    people = [make_person(rng, registry) for _ in range(count)]
    messages = [
        {
            "type": "identify",
            "messageId": str(uuid.uuid4()),
            "anonymousId": f"device-{uuid.uuid4().hex}",
            "timestamp": (datetime(2026, 6, 1, 10, tzinfo=UTC) + timedelta(seconds=i))
            .isoformat()
            .replace("+00:00", "Z"),
            "traits": {
                "email": p.email,
                "firstName": p.first_name,
                "lastName": p.last_name,
                "address": {"postalCode": p.postal_code, "city": p.city, "country": p.country},
            },
        }
        for i, p in enumerate(people)
    ]
    for start in range(0, len(messages), 100):
        batch = {"batch": messages[start : start + 100]}
        response = client.post("/v1/batch", json=batch, headers=source.auth)
        assert response.status_code == 200, response.text
    return people


@dataclass
class CrmReceiver:
    """A dealer's CRM as a real HTTP server: records what is POSTed to it, and answers 503 to
    the first `failures` requests."""

    url: str
    received: list[tuple[str, bytes]]
    failures: int


@contextmanager
def crm_receiver(failures: int = 0) -> Iterator[CrmReceiver]:
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    state = CrmReceiver(url="", received=[], failures=failures)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length)
            state.received.append((self.headers.get("content-type") or "", body))
            failing = len(state.received) <= state.failures
            self.send_response(503 if failing else 200)
            self.end_headers()
            self.wfile.write(b"busy" if failing else b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}/adf"
    try:
        yield state
    finally:
        server.shutdown()
        server.server_close()


@contextmanager
def served(database_url: str, cwd: Path, *, workers: int = 1) -> Iterator[str]:
    """`cdp serve` (with `workers` processes) as its own process; its base URL. Stopped with
    SIGTERM afterwards, as an operator would, and killed if it does not stop."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    log = (cwd / f"serve-{port}.log").open("wb")
    process = subprocess.Popen(
        [str(CDP), "serve", "--port", str(port), "--workers", str(workers)],
        env=cdp_env(database_url), cwd=cwd, stdout=log, stderr=subprocess.STDOUT,
        start_new_session=True,
    )  # fmt: skip
    base_url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120  # a loaded machine starts two workers slowly
        while True:
            assert process.poll() is None, (cwd / f"serve-{port}.log").read_text()
            try:
                if httpx.get(f"{base_url}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "cdp serve did not start"
            time.sleep(0.2)
        yield base_url
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)
        log.close()


def http_sign_in(client: httpx.Client, email: str, password: str = STAFF_PASSWORD) -> str:
    """Sign an httpx client in to a running server through the form; the CSRF token."""
    form = BeautifulSoup(client.get("/login").text, "html.parser")
    token = form.find("input", attrs={"name": "csrf_token"})
    assert token is not None
    answer = client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token["value"], "next": "/"},
    )
    assert answer.status_code == 303, answer.text
    account = BeautifulSoup(client.get("/account").text, "html.parser")
    csrf = account.find("input", attrs={"name": "csrf_token"})
    assert csrf is not None
    return str(csrf["value"])


@dataclass
class ServerSentEvent:
    event: str
    id: str | None
    data: str


def next_sse_event(lines: Iterator[str], *, named: str) -> ServerSentEvent:
    """The next event called `named` from a text/event-stream's lines (comments, `retry:` and
    other events are skipped)."""
    fields: dict[str, list[str]] = {}
    for line in lines:
        if line == "":
            if fields.get("event", [""])[0] == named:
                ids = fields.get("id")
                return ServerSentEvent(named, ids[0] if ids else None, "\n".join(fields["data"]))
            fields = {}
            continue
        if line.startswith(":"):
            continue
        name, _, value = line.partition(":")
        fields.setdefault(name, []).append(value.removeprefix(" "))
    raise AssertionError(f"the stream ended without an {named!r} event")


def audit_rows(client: TestClient, query: str = "") -> list[dict[str, str]]:
    response = client.get(f"/admin/audit?{query}")
    assert response.status_code == 200, response.text
    return [
        {
            cell: row.select_one(f".{cell}").get_text(" ", strip=True)  # type: ignore[union-attr]
            for cell in ("actor", "action", "profile", "detail")
        }
        | {"kind": str(row["data-action"])}
        for row in soup(response.text).select("tr.audit-row")
    ]


@contextmanager
def database_at(kind: str, tmp_dir: Path, name: str, revision: str) -> Iterator[Engine]:
    """A new database of the given kind migrated up to `revision` only (a migration's test
    fills it the way that revision's schema was, then upgrades); dropped afterwards."""
    url = fresh_database_url(kind, tmp_dir, name)
    engine = make_engine(url)
    config = alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, revision)
    try:
        yield engine
    finally:
        engine.dispose()
        drop_database(url)
