"""`cdp dealer create/list/import`, and staff and tokens working at dealers (`--dealer`), run
as an operator runs them: the command in a subprocess, on a fresh SQLite file and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.db import make_engine
from cdp.models import ApiToken, AuditRecord, Dealer, StaffDealer, StaffUser
from tests.helpers import Result, drop_database, fresh_database_url, run_cdp

PASSWORD = "a-long-enough-passphrase\n"


@pytest.fixture()
def url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    database = fresh_database_url(db_kind, tmp_path, "dealers_cli")
    try:
        yield database
    finally:
        drop_database(database)


def cdp(url: str, tmp_path: Path, *args: str, stdin: str = "") -> Result:
    return run_cdp(*args, database_url=url, cwd=tmp_path, stdin=stdin)


def one_line_error(result: Result, fragment: str) -> None:
    assert result.code != 0, result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.err + result.out


def dealers(url: str) -> dict[str, Dealer]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return {d.code: d for d in session.scalars(select(Dealer))}
    finally:
        engine.dispose()


def works_at(url: str, email: str) -> list[str] | None:
    """The dealer codes of a staff member, or None if there is no such account."""
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            user_id = session.scalar(select(StaffUser.id).where(StaffUser.email == email))
            if user_id is None:
                return None
            codes = session.scalars(
                select(Dealer.code)
                .join(StaffDealer, StaffDealer.dealer_id == Dealer.id)
                .where(StaffDealer.user_id == user_id)
                .order_by(Dealer.code)
            )
            return list(codes)
    finally:
        engine.dispose()


def test_create_then_list_dealers(url: str, tmp_path: Path) -> None:
    done = cdp(
        url, tmp_path, "dealer", "create", "nl-ein1", "--name", "Autohuis Eindhoven",
        "--postal-codes", "5611, 5612;5613", "--city", "Eindhoven",
    )  # fmt: skip
    assert done.code == 0, done.err
    assert "dealer NL-EIN1 (Autohuis Eindhoven) created, serving 5611, 5612, 5613" in done.out
    listed = cdp(url, tmp_path, "dealer", "list")
    assert listed.code == 0, listed.err
    lines = listed.out.strip().splitlines()
    # An installation starts with the default dealer, which holds a single showroom's staff.
    assert lines[0].startswith("MAIN  Main showroom  (NL, active, 0 staff)")
    assert lines[1] == (
        "NL-EIN1  Autohuis Eindhoven  (Eindhoven, NL, active, 0 staff)  serves 5611, 5612, 5613"
    )


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["NL-EIN1", "--name", "Again"], "a dealer NL-EIN1 already exists"),
        (["NL EIN", "--name", "X"], "dealer code 'NL EIN' must be 1 to 20 letters"),
        (["BE-1", "--name", " "], "a dealer needs a name"),
        (["BE-1", "--name", "X", "--country", "Belgium"], "must be a two-letter code"),
        (["BE-1", "--name", "X", "--time-zone", "Europe/Gent"], "time zone 'Europe/Gent'"),
        (["BE-1", "--name", "X", "--postal-codes", "90-00"], "postal-code area '90-00'"),
        (["BE-1", "--name", "X", "--phone", "abc"], "phone 'abc' is not a phone number"),
    ],
)
def test_a_wrong_dealer_is_one_line_and_nothing_is_stored(
    url: str, tmp_path: Path, args: list[str], fragment: str
) -> None:
    assert cdp(url, tmp_path, "dealer", "create", "NL-EIN1", "--name", "Eindhoven").code == 0
    one_line_error(cdp(url, tmp_path, "dealer", "create", *args), fragment)
    assert sorted(dealers(url)) == ["MAIN", "NL-EIN1"]


GOOD_CSV = """code,name,address,postal_code,city,country,phone,time_zone,postal_codes,active
NL-UTR,Autohuis Utrecht,Kanaalweg 1,3526 KL,Utrecht,NL,+31 30 123 4567,,"3511, 3512",yes
BE-ANT,Garage Antwerpen,Noorderlaan 5,2030,Antwerpen,BE,,Europe/Brussels,2000 2018 2030,
"""


def test_import_creates_then_updates_by_code(url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "dealers.csv"
    csv_file.write_text(GOOD_CSV, encoding="utf-8")
    first = cdp(url, tmp_path, "dealer", "import", str(csv_file))
    assert first.code == 0, first.err
    assert "2 dealers created, 0 updated" in first.out
    found = dealers(url)
    assert found["BE-ANT"].postal_areas == ["2000", "2018", "2030"]
    assert found["BE-ANT"].time_zone == "Europe/Brussels"
    assert found["NL-UTR"].postal_code == "3526 KL" and found["NL-UTR"].active
    csv_file.write_text(GOOD_CSV.replace("Garage Antwerpen", "Garage Antwerpen-Noord"))
    again = cdp(url, tmp_path, "dealer", "import", str(csv_file))
    assert "0 dealers created, 2 updated" in again.out, again.err
    assert dealers(url)["BE-ANT"].name == "Garage Antwerpen-Noord"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        (GOOD_CSV.replace(",BE,", ",Belgium,"), "line 3: country 'Belgium' must be a two-letter"),
        (GOOD_CSV.replace("NL-UTR,Autohuis Utrecht", "NL-UTR,"), "line 2: a dealer needs a name"),
        (GOOD_CSV.replace("BE-ANT", "NL-UTR"), "line 3: dealer NL-UTR is on line 2 already"),
        (GOOD_CSV.replace(",yes", ",maybe"), "line 2: active must be yes or no, not 'maybe'"),
        (GOOD_CSV.replace("phone", "fax"), "line 1: unknown column 'fax'"),
        (GOOD_CSV.replace(",Europe/Brussels,", ",Europe/Brussels,x,"), "line 3: 11 values"),
        ("code,name\n", "the file holds no dealers"),
        ("", "the file is empty"),
    ],
)
def test_a_file_with_a_mistake_changes_nothing(
    url: str, tmp_path: Path, text: str, fragment: str
) -> None:
    csv_file = tmp_path / "dealers.csv"
    csv_file.write_text(text, encoding="utf-8")
    one_line_error(cdp(url, tmp_path, "dealer", "import", str(csv_file)), fragment)
    assert sorted(dealers(url)) == ["MAIN"]


def test_import_lists_every_mistake_of_every_line(url: str, tmp_path: Path) -> None:
    csv_file = tmp_path / "dealers.csv"
    csv_file.write_text(
        "code,name,active,sla_minutes\nNL-A,A,yes,-5\nNL-B,B,maybe,abc\n,C,yes,\n",
        encoding="utf-8",
    )
    result = cdp(url, tmp_path, "dealer", "import", str(csv_file))
    assert result.code == 1 and result.out == ""
    minutes = "must be a whole number of minutes from 1 to 10080, not"
    assert result.err.splitlines() == [
        "error: nothing imported, 4 problems:",
        f"  line 2: sla minutes {minutes} '-5'",
        "  line 3: active must be yes or no, not 'maybe'",
        f"  line 3: sla minutes {minutes} 'abc'",
        "  line 4: dealer code '' must be 1 to 20 letters, digits, '-' or '_'",
    ]
    assert sorted(dealers(url)) == ["MAIN"]


def audit_details(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.execute(
                select(AuditRecord.actor, AuditRecord.detail)
                .where(AuditRecord.action == "dealer")
                .order_by(AuditRecord.id)
            )
            return [(actor, detail) for actor, detail in rows]
    finally:
        engine.dispose()


def test_an_area_is_one_dealers_and_a_narrower_one_is_asked_about(url: str, tmp_path: Path) -> None:
    create = ("dealer", "create")
    assert (
        cdp(url, tmp_path, *create, "NW-EHV", "--name", "Eindhoven", "--postal-codes", "561").code
        == 0
    )
    one_line_error(
        cdp(url, tmp_path, *create, "NL-X", "--name", "X", "--postal-codes", "5699 561"),
        "postal-code area 561 is already served by NW-EHV (Eindhoven)",
    )
    narrower = (*create, "NL-X", "--name", "X", "--postal-codes", "5611")
    sentence = "5611 is inside NW-EHV's 561: leads from 5611 will come to NL-X instead."
    unanswered = cdp(url, tmp_path, *narrower)  # no terminal: nothing is saved
    assert unanswered.out.startswith(sentence), unanswered.out
    one_line_error(unanswered, "NL-X not saved: its postal-code areas take leads from another")
    assert "--yes" in unanswered.err
    refused = cdp(url, tmp_path, *narrower, stdin="n\n")
    assert refused.code == 1 and "Save NL-X anyway? [y/N]" in refused.out
    assert sorted(dealers(url)) == ["MAIN", "NW-EHV"]
    agreed = cdp(url, tmp_path, *narrower, stdin="y\n")
    assert agreed.code == 0, agreed.err
    assert "dealer NL-X (X) created, serving 5611" in agreed.out
    told = cdp(url, tmp_path, *create, "NL-Y", "--name", "Y", "--postal-codes", "5613", "--yes")
    assert told.code == 0, told.err
    assert told.out.splitlines() == [
        "5613 is inside NW-EHV's 561: leads from 5613 will come to NL-Y instead.",
        "dealer NL-Y (Y) created, serving 5613",
    ]

    # An import refuses an area two active dealers would serve, and says what moves.
    csv_file = tmp_path / "dealers.csv"
    csv_file.write_text("code,name,postal_areas\nNL-Z,Z,561\n", encoding="utf-8")
    one_line_error(
        cdp(url, tmp_path, "dealer", "import", str(csv_file)),
        "line 2: postal-code area 561 is already served by NW-EHV (Eindhoven)",
    )
    csv_file.write_text("code,name,postal_areas\nNL-Z,Z,5612 56131\n", encoding="utf-8")
    imported = cdp(url, tmp_path, "dealer", "import", str(csv_file))
    assert imported.code == 0, imported.err
    assert imported.out.splitlines()[1:] == [
        "note: NL-Z's 5612 is inside NW-EHV's 561: leads from 5612 go to NL-Z",
        "note: NL-Z's 56131 is inside NL-Y's 5613: leads from 56131 go to NL-Z",
    ]
    assert audit_details(url) == [
        ("command line", "dealer NW-EHV added (Eindhoven, NL; postal-code areas 561)"),
        (
            "command line",
            "dealer NL-X added (X, NL; postal-code areas 5611); takes 5611 from NW-EHV's 561",
        ),
        (
            "command line",
            "dealer NL-Y added (Y, NL; postal-code areas 5613); takes 5613 from NW-EHV's 561",
        ),
        (
            "command line",
            "dealers imported from dealers.csv: 1 added (NL-Z), 0 updated; NL-Z's 5612 is inside "
            "NW-EHV's 561: leads from 5612 go to NL-Z; NL-Z's 56131 is inside NL-Y's 5613: "
            "leads from 56131 go to NL-Z",
        ),
    ]


def test_import_of_a_missing_or_non_utf8_file(url: str, tmp_path: Path) -> None:
    one_line_error(
        cdp(url, tmp_path, "dealer", "import", str(tmp_path / "nope.csv")), "cannot read"
    )
    latin = tmp_path / "latin.csv"
    latin.write_bytes("code,name\nBE-LIE,Garage Liège\n".encode("latin-1"))
    one_line_error(cdp(url, tmp_path, "dealer", "import", str(latin)), "not UTF-8")


def test_staff_work_at_the_dealers_given(url: str, tmp_path: Path) -> None:
    # One dealer (the default): floor staff join it without being told, as before dealers.
    alone = cdp(url, tmp_path, "user", "create", "ann@x.nl", "--role", "sales", stdin=PASSWORD)
    assert "working at MAIN" in alone.out, alone.err
    for code in ("NL-EIN1", "NL-UTR"):
        assert cdp(url, tmp_path, "dealer", "create", code, "--name", code).code == 0
    two = cdp(
        url, tmp_path, "user", "create", "bo@x.nl", "--role", "manager",
        "--dealer", "nl-utr", "--dealer", "NL-EIN1", stdin=PASSWORD,
    )  # fmt: skip
    assert "working at NL-EIN1, NL-UTR" in two.out, two.err
    network = cdp(url, tmp_path, "user", "create", "cy@x.nl", "--role", "admin", stdin=PASSWORD)
    assert "working for the whole network" in network.out, network.err
    assert works_at(url, "ann@x.nl") == ["MAIN"]
    assert works_at(url, "bo@x.nl") == ["NL-EIN1", "NL-UTR"]
    assert works_at(url, "cy@x.nl") == []


def test_staff_with_a_wrong_dealer_are_not_created(url: str, tmp_path: Path) -> None:
    assert cdp(url, tmp_path, "dealer", "create", "NL-EIN1", "--name", "Eindhoven").code == 0
    one_line_error(
        cdp(url, tmp_path, "user", "create", "d@x.nl", "--role", "sales", stdin=PASSWORD),
        "staff with role sales work at a dealer",
    )
    wrong = ["--role", "sales", "--dealer", "NL-XX"]
    one_line_error(
        cdp(url, tmp_path, "user", "create", "d@x.nl", *wrong, stdin=PASSWORD),
        "no dealer has code NL-XX",
    )
    assert works_at(url, "d@x.nl") is None


def test_a_token_reads_one_dealer_or_the_network(url: str, tmp_path: Path) -> None:
    assert cdp(url, tmp_path, "dealer", "create", "NL-EIN1", "--name", "Eindhoven").code == 0
    one = cdp(url, tmp_path, "token", "create", "app", "--role", "sales", "--dealer", "nl-ein1")
    assert "for dealer NL-EIN1 created" in one.out, one.err
    network = cdp(url, tmp_path, "token", "create", "crm", "--role", "manager")
    assert "for the whole network created" in network.out, network.err
    one_line_error(
        cdp(url, tmp_path, "token", "create", "x", "--role", "sales", "--dealer", "NOPE"),
        "no dealer has code NOPE",
    )
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            rows = session.execute(select(ApiToken.name, ApiToken.dealer_id))
            scopes = {name: dealer_id for name, dealer_id in rows}
            eindhoven = session.scalar(select(Dealer.id).where(Dealer.code == "NL-EIN1"))
    finally:
        engine.dispose()
    assert scopes == {"app": eindhoven, "crm": None}
