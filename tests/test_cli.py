"""The `cdp` command, run as a real subprocess against a fresh database (SQLite and PostgreSQL).

Covers: --help of the command and each subcommand; `cdp db upgrade`; `cdp source create` printing
a working write key once and storing only a hash; `cdp token create` printing a working Bearer
token; every user error (duplicate name, bad --kind, --origin or --role, unreachable database)
reported as one line on stderr with a non-zero exit and no traceback.
"""

from __future__ import annotations

import re
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, inspect, select, text

from cdp.app import create_app
from cdp.config import Settings
from cdp.db import make_engine, make_sessionmaker
from cdp.models import ApiToken, Event, Lead, Source
from tests.helpers import CDP, PG_ADMIN_URL, Result, cdp_env, fresh_database_url

WRITE_KEY = re.compile(r"\bwk_[A-Za-z0-9_\-]{20,}")
API_TOKEN = re.compile(r"\bcdp_[A-Za-z0-9_\-]{20,}")


def run_cdp(*args: str, database_url: str, cwd: Path) -> Result:
    done = subprocess.run(
        [str(CDP), *args],
        env=cdp_env(database_url),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
    )
    return Result(done.returncode, done.stdout, done.stderr)


def assert_one_line_error(result: Result) -> str:
    assert result.code != 0
    assert "Traceback" not in result.err + result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error:")
    return lines[0]


@pytest.fixture()
def database_url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty database of each kind; the PostgreSQL one is dropped afterwards."""
    url = fresh_database_url(db_kind, tmp_path, f"cli_{uuid.uuid4().hex[:6]}")
    yield url
    if db_kind == "postgresql":
        admin = create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            name = url.rsplit("/", 1)[1]
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture()
def cwd(tmp_path: Path) -> Path:
    """An empty working directory, so no stray .env is read."""
    work = tmp_path / "work"
    work.mkdir()
    return work


HELP = {
    (): ["db", "source", "token", "user", "serve"],
    ("db",): ["upgrade"],
    ("db", "upgrade"): ["migrations"],
    ("user",): ["create"],
    ("user", "create"): ["--role", "--name"],
    ("source",): ["create", "list", "deactivate", "activate", "rotate-key", "origins"],
    ("source", "create"): ["--kind", "--origin", "web", "dealer_web", "showroom"],
    ("source", "origins"): ["--origin"],
    ("token",): ["create", "list", "revoke"],
    ("token", "create"): ["--role", "sales"],
    ("serve",): ["--host", "--port"],
    ("demo",): ["--customers"],
}


def test_help_of_every_command(tmp_path: Path, cwd: Path) -> None:
    env = cdp_env(f"sqlite:///{tmp_path / 'unused.sqlite3'}")
    running = {
        command: subprocess.Popen(
            [str(CDP), *command, "--help"],
            env=env,
            cwd=cwd,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for command in HELP
    }  # started together: each is a separate interpreter start-up
    for command, process in running.items():
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, (command, err)
        assert "Usage" in out
        for word in HELP[command]:
            assert word in out, (command, word)
    assert not (tmp_path / "unused.sqlite3").exists()  # help touches no database


def test_db_upgrade_creates_the_schema_and_can_run_again(database_url: str, cwd: Path) -> None:
    first = run_cdp("db", "upgrade", database_url=database_url, cwd=cwd)
    assert first.code == 0, first.err
    assert first.out.strip()
    again = run_cdp("db", "upgrade", database_url=database_url, cwd=cwd)
    assert again.code == 0, again.err
    engine = make_engine(database_url)
    try:
        tables = set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert {"source", "api_token", "event", "profile", "identity", "consent"} <= tables


def test_source_create_prints_a_working_write_key_once_and_stores_only_a_hash(
    database_url: str, cwd: Path
) -> None:
    result = run_cdp(
        "source",
        "create",
        "Brand configurator",
        "--kind",
        "web",
        "--origin",
        "https://X.example/",
        database_url=database_url,
        cwd=cwd,
    )
    assert result.code == 0, result.err
    keys = WRITE_KEY.findall(result.out)
    assert len(keys) == 1, result.out
    key = keys[0]

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            [source] = session.scalars(select(Source)).all()
            assert (source.name, source.kind) == ("Brand configurator", "web")
            assert source.origins == ["https://x.example"]
            for column in Source.__table__.columns:
                assert key not in str(getattr(source, column.key)), column.key
            assert source.write_key_hash

        app = create_app(Settings(database_url=database_url))
        with TestClient(app) as client:
            body = {"anonymousId": "cli-device", "event": "Configuration Started"}
            ok = client.post(
                "/v1/track", json=body, auth=(key, ""), headers={"Origin": "https://x.example"}
            )
            assert ok.status_code == 200, ok.text
            assert ok.headers["access-control-allow-origin"] == "https://x.example"
            wrong = client.post("/v1/track", json=body, auth=(key[:-1], ""))
            assert wrong.status_code == 401
        with make_sessionmaker(engine)() as session:
            assert session.scalars(select(Event.anonymous_id)).all() == ["cli-device"]
    finally:
        engine.dispose()


def test_a_dealer_web_source_s_leads_arrive_as_dealer_website_leads(
    database_url: str, cwd: Path
) -> None:
    result = run_cdp(
        "source", "create", "Autohuis site", "--kind", "dealer_web",
        database_url=database_url, cwd=cwd,
    )  # fmt: skip
    assert result.code == 0, result.err
    assert "(dealer_web) created" in result.out
    [key] = WRITE_KEY.findall(result.out)
    engine = make_engine(database_url)
    try:
        app = create_app(Settings(database_url=database_url))
        with TestClient(app) as client:
            for call, body in (
                ("identify", {"anonymousId": "d1", "traits": {"email": "bo@example.nl"}}),
                ("track", {"anonymousId": "d1", "event": "Quote Requested", "properties": {}}),
            ):
                sent = client.post(f"/v1/{call}", json=body, auth=(key, ""))
                assert sent.status_code == 200, sent.text
        with make_sessionmaker(engine)() as session:
            assert session.scalars(select(Lead.channel)).all() == ["dealer_website"]
            # Its events are a website's to identity rules and segments.
            assert set(session.scalars(select(Event.channel))) == {"web"}
    finally:
        engine.dispose()


def test_token_create_prints_a_working_bearer_token(database_url: str, cwd: Path) -> None:
    result = run_cdp(
        "token",
        "create",
        "Showroom app Utrecht",
        "--role",
        "sales",
        database_url=database_url,
        cwd=cwd,
    )
    assert result.code == 0, result.err
    [secret] = API_TOKEN.findall(result.out)

    engine = make_engine(database_url)
    try:
        with make_sessionmaker(engine)() as session:
            [token] = session.scalars(select(ApiToken)).all()
            assert (token.name, token.role) == ("Showroom app Utrecht", "sales")
            assert secret not in token.token_hash
        app = create_app(Settings(database_url=database_url))
        with TestClient(app) as client:
            headers = {"Authorization": f"Bearer {secret}"}
            found = client.get("/api/profiles", params={"q": "Jansen"}, headers=headers)
            assert found.status_code == 200, found.text
            assert found.json()["results"] == []
            refused = client.get(
                "/api/profiles",
                params={"q": "Jansen"},
                headers={"Authorization": f"Bearer {secret}x"},
            )
            assert refused.status_code == 401
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    ("setting", "value", "mentions"),
    [
        ("CDP_DATABASE_URL", "mysql://root:secret@127.0.0.1/shop", "CDP_DATABASE_URL: mysql"),
        ("CDP_DATABASE_URL", "shop.db", "sqlite:///FILE"),
        ("CDP_DEFAULT_PHONE_REGION", "NL,XX", "CDP_DEFAULT_PHONE_REGION: XX is not a region"),
        ("CDP_DEFAULT_PHONE_REGION", " , ", "nothing is not a region"),
        ("CDP_TRUSTED_PROXIES", "proxy.local", "CDP_TRUSTED_PROXIES: 'proxy.local' is not an IP"),
        ("CDP_TRUSTED_PROXIES", "10.0.0.1, 10.0.0.300", "'10.0.0.300' is not an IP address"),
    ],
)
def test_a_setting_that_cannot_be_used_is_a_one_line_error(
    cwd: Path, setting: str, value: str, mentions: str
) -> None:
    env = {**cdp_env(f"sqlite:///{cwd / 'settings.db'}"), setting: value}
    done = subprocess.run(
        [str(CDP), "source", "list"], env=env, cwd=cwd, capture_output=True, text=True, timeout=60
    )
    line = assert_one_line_error(Result(done.returncode, done.stdout, done.stderr))
    assert mentions in line
    assert "secret" not in line  # a password in the URL is never shown


def test_a_postgres_url_as_hosting_dashboards_write_it_is_used_with_our_driver(
    database_url: str, cwd: Path
) -> None:
    if not database_url.startswith("postgresql+psycopg://"):
        pytest.skip("a PostgreSQL URL")
    pasted = "postgres://" + database_url.removeprefix("postgresql+psycopg://")
    assert run_cdp("db", "upgrade", database_url=pasted, cwd=cwd).code == 0
    listed = run_cdp("source", "list", database_url=pasted, cwd=cwd)
    assert listed.code == 0, listed.err


def test_duplicate_source_name_is_a_one_line_error(database_url: str, cwd: Path) -> None:
    first = run_cdp(
        "source", "create", "Dealer site", "--kind", "web", database_url=database_url, cwd=cwd
    )
    assert first.code == 0, first.err
    again = run_cdp(
        "source", "create", "Dealer site", "--kind", "showroom", database_url=database_url, cwd=cwd
    )
    line = assert_one_line_error(again)
    assert "Dealer site" in line
    assert not WRITE_KEY.search(again.out)


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("source", "create", "Tablets", "--kind", "kiosk"), "kind"),
        (("source", "create", "Site", "--kind", "web", "--origin", "www.example.com"), "origin"),
        (("source", "create", "   ", "--kind", "web"), "name"),
        (("token", "create", "Someone", "--role", "superuser"), "role"),
    ],
)
def test_bad_input_is_a_one_line_error(
    tmp_path: Path, cwd: Path, args: tuple[str, ...], mentions: str
) -> None:
    """Checked before anything is written, so one database kind is enough."""
    result = run_cdp(*args, database_url=f"sqlite:///{tmp_path / 'bad.sqlite3'}", cwd=cwd)
    line = assert_one_line_error(result)
    assert mentions in line
    assert not WRITE_KEY.search(result.out) and not API_TOKEN.search(result.out)


@pytest.mark.parametrize(
    ("url", "args"),
    [
        ("postgresql+psycopg://postgres@127.0.0.1:1/nothing?connect_timeout=3", ("db", "upgrade")),
        (
            "sqlite:////nonexistent-directory/cdp.sqlite3",
            ("source", "create", "Site", "--kind", "web"),
        ),
    ],
    ids=["postgresql-refused", "sqlite-no-directory"],
)
def test_unreachable_database_is_a_one_line_error(
    cwd: Path, url: str, args: tuple[str, ...]
) -> None:
    line = assert_one_line_error(run_cdp(*args, database_url=url, cwd=cwd))
    assert "database" in line


def _track(database_url: str, key: str, origin: str | None = None) -> int:
    """Send one event with a freshly started app (no write key cached yet); the status code."""
    app = create_app(Settings(database_url=database_url))
    headers = {"Origin": origin} if origin else {}
    with TestClient(app) as client:
        body = {"anonymousId": f"dev-{uuid.uuid4().hex[:6]}", "event": "Configuration Started"}
        status: int = client.post(
            "/v1/track", json=body, auth=(key, ""), headers=headers
        ).status_code
        return status


def test_a_source_is_listed_rekeyed_deactivated_and_given_new_origins(
    database_url: str, cwd: Path
) -> None:
    def cdp(*args: str) -> Result:
        result = run_cdp(*args, database_url=database_url, cwd=cwd)
        assert result.code == 0, result.err
        return result

    assert "no sources yet" in cdp("source", "list").out
    [old_key] = WRITE_KEY.findall(
        cdp("source", "create", "Dealer site", "--kind", "web", "--origin", "https://a.example").out
    )
    listed = cdp("source", "list").out
    assert "Dealer site" in listed and "active" in listed and "https://a.example" in listed

    [new_key] = WRITE_KEY.findall(cdp("source", "rotate-key", "Dealer site").out)
    assert new_key != old_key
    assert _track(database_url, old_key) == 401
    assert _track(database_url, new_key) == 200

    assert "deactivated" in cdp("source", "deactivate", "Dealer site").out
    assert "deactivated" in cdp("source", "list").out
    assert _track(database_url, new_key) == 401
    cdp("source", "activate", "Dealer site")
    assert _track(database_url, new_key) == 200

    assert _track(database_url, new_key, origin="https://b.example") == 403
    moved = cdp("source", "origins", "Dealer site", "--origin", "https://B.example/")
    assert "https://b.example" in moved.out
    assert _track(database_url, new_key, origin="https://b.example") == 200
    assert _track(database_url, new_key, origin="https://a.example") == 403


@pytest.mark.parametrize(
    ("origin", "problem"),
    [
        ("https://www.brand.nl/path", "has a path (/path)"),
        ("https://www.brand.nl/nl/configurator/", "has a path (/nl/configurator/)"),
        ("https://www.brand.nl?utm_source=mail", "has a query (?utm_source=mail)"),
        ("https://www.brand.nl/#top", "has a fragment (#top)"),
        ("https://www.brand.nl?", "has a query (?)"),
        ("https://editor:secret@www.brand.nl", "has a user name or password"),
    ],
)
def test_an_origin_that_a_browser_never_sends_is_refused(
    tmp_path: Path, cwd: Path, origin: str, problem: str
) -> None:
    """A browser's Origin header is scheme://host[:port] and nothing more: an entry with more
    could never match and would break CORS without a word. Both commands that take --origin
    refuse it in one line that names the problem and what to give instead."""
    url = f"sqlite:///{tmp_path / 'origins.sqlite3'}"
    created = run_cdp("source", "create", "Site", "--kind", "web", "--origin", origin,
                      database_url=url, cwd=cwd)  # fmt: skip
    line = assert_one_line_error(created)
    assert problem in line and "https://www.brand.nl" in line, line
    assert not WRITE_KEY.search(created.out)
    made = run_cdp("source", "create", "Site", "--kind", "web", "--origin", "https://www.brand.nl",
                   database_url=url, cwd=cwd)  # fmt: skip
    assert made.code == 0, made.err
    changed = run_cdp("source", "origins", "Site", "--origin", "https://a.brand.nl", "--origin",
                      origin, database_url=url, cwd=cwd)  # fmt: skip
    line = assert_one_line_error(changed)
    assert problem in line, line
    listed = run_cdp("source", "list", database_url=url, cwd=cwd).out
    assert "https://www.brand.nl" in listed and "a.brand.nl" not in listed  # unchanged


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://www.brand.nl/", "https://www.brand.nl"),  # pasted from the address bar
        (" HTTPS://WWW.Brand.NL ", "https://www.brand.nl"),
        ("https://www.brand.nl:443/", "https://www.brand.nl"),  # browsers leave out :443
        ("http://localhost:80", "http://localhost"),
        ("http://localhost:8080/", "http://localhost:8080"),
        ("http://[::1]:8000", "http://[::1]:8000"),
    ],
)
def test_an_origin_is_stored_as_a_browser_sends_it(
    tmp_path: Path, cwd: Path, typed: str, stored: str
) -> None:
    url = f"sqlite:///{tmp_path / 'origins.sqlite3'}"
    made = run_cdp("source", "create", "Site", "--kind", "web", "--origin", typed,
                   database_url=url, cwd=cwd)  # fmt: skip
    assert made.code == 0, made.err
    changed = run_cdp("source", "origins", "Site", "--origin", typed, database_url=url, cwd=cwd)
    assert changed.code == 0, changed.err
    assert f"now allows {stored};" in changed.out
    engine = make_engine(url)
    try:
        with make_sessionmaker(engine)() as session:
            assert session.scalars(select(Source.origins)).one() == [stored]
    finally:
        engine.dispose()


def test_a_revoked_token_is_refused_at_once(database_url: str, cwd: Path) -> None:
    created = run_cdp(
        "token", "create", "Old tablet app", "--role", "sales", database_url=database_url, cwd=cwd
    )
    [secret] = API_TOKEN.findall(created.out)
    listed = run_cdp("token", "list", database_url=database_url, cwd=cwd).out
    token_id = re.search(r"^(\d+)  Old tablet app  \(sales, active", listed, re.MULTILINE)
    assert token_id, listed

    app = create_app(Settings(database_url=database_url))
    with TestClient(app) as client:
        headers = {"Authorization": f"Bearer {secret}"}
        assert client.get("/api/profiles", params={"q": "x"}, headers=headers).status_code == 200
        revoked = run_cdp("token", "revoke", token_id.group(1), database_url=database_url, cwd=cwd)
        assert revoked.code == 0, revoked.err
        assert client.get("/api/profiles", params={"q": "x"}, headers=headers).status_code == 401
    assert "revoked" in run_cdp("token", "list", database_url=database_url, cwd=cwd).out


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (("source", "deactivate", "Nobody"), "Nobody"),
        (("source", "rotate-key", "Nobody"), "Nobody"),
        (("source", "origins", "Nobody", "--origin", "https://x.example"), "Nobody"),
        (("token", "revoke", "999"), "999"),
        (("token", "revoke", "abc"), "ID"),
    ],
)
def test_unknown_sources_and_tokens_are_a_one_line_error(
    tmp_path: Path, cwd: Path, args: tuple[str, ...], mentions: str
) -> None:
    result = run_cdp(*args, database_url=f"sqlite:///{tmp_path / 'none.sqlite3'}", cwd=cwd)
    line = assert_one_line_error(result)
    assert mentions in line


EXPORT = ("export", "--segment", "1")
PROFILE_EXPORT = ("profile", "export", "x@example.nl")


@pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc and /dev/full")
def test_an_output_that_cannot_be_written_is_a_one_line_error(
    database_url: str, cwd: Path, tmp_path: Path
) -> None:
    """Checked before the database is read; nothing is left behind, a link is not replaced.
    (A profile export that cannot be written is in test_privacy.py: it needs a person.)"""
    kept = tmp_path / "kept.csv"
    kept.write_text("kept", encoding="utf-8")
    link = tmp_path / "link.csv"
    link.symlink_to(kept)
    too_long = str(tmp_path / ("x" * 300 + ".csv"))
    cases = [
        (EXPORT, "/proc/x.csv", "cannot write /proc/x.csv: No such file or directory"),
        (EXPORT, "/dev/full", "/dev/full is not a regular file"),
        (PROFILE_EXPORT, "/dev/full", "/dev/full is not a regular file"),
        (EXPORT, str(link), f"{link} is not a regular file"),
        (PROFILE_EXPORT, str(link), f"{link} is not a regular file"),
        (EXPORT, too_long, "File name too long"),
        (PROFILE_EXPORT, too_long, "File name too long"),
    ]
    for command, output, message in cases:
        result = run_cdp(*command, "-o", output, database_url=database_url, cwd=cwd)
        line = assert_one_line_error(result)
        assert message in line, (command, output)
    assert link.is_symlink() and kept.read_text(encoding="utf-8") == "kept"
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".") or "part" in p.name]
