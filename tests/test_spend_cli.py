"""`cdp spend import FILE`, run as an operator runs it: the command in a subprocess, on a fresh
SQLite file and PostgreSQL database; a file with any mistake changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.db import make_engine
from cdp.models import AuditRecord, Dealer, SpendEntry
from tests.helpers import Result, drop_database, fresh_database_url, run_cdp


@pytest.fixture()
def url(db_kind: str, tmp_path: Path) -> Iterator[str]:
    database = fresh_database_url(db_kind, tmp_path, "spend_cli")
    try:
        yield database
    finally:
        drop_database(database)


def cdp(url: str, tmp_path: Path, *args: str) -> Result:
    return run_cdp(*args, database_url=url, cwd=tmp_path)


def stored(url: str) -> list[tuple[str, str, str, str | None, Decimal]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            codes = {d.id: d.code for d in session.scalars(select(Dealer))}
            return sorted(
                (e.month.isoformat(), e.channel, e.campaign, codes.get(e.dealer_id or 0),
                 Decimal(e.amount).quantize(Decimal("0.01")))
                for e in session.scalars(select(SpendEntry))
            )  # fmt: skip
    finally:
        engine.dispose()


def one_line_error(result: Result, fragment: str) -> None:
    assert result.code != 0, result.out
    lines = result.err.strip().splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ") and fragment in lines[0], lines[0]
    assert "Traceback" not in result.err + result.out


def test_import_adds_then_replaces_and_a_bad_file_changes_nothing(url: str, tmp_path: Path) -> None:
    assert cdp(url, tmp_path, "dealer", "create", "NL-EHV", "--name", "Eindhoven").code == 0
    good = tmp_path / "spend.csv"
    good.write_text(
        "month;channel;campaign;dealer_code;amount\n"
        "2026-03;marketplace;autotrack-top;nl-ehv;1.234,56\n"
        "03-2026;website;Spring-Sale;;800\n",
        encoding="utf-8",
    )
    done = cdp(url, tmp_path, "spend", "import", str(good))
    assert done.code == 0, done.err
    assert "2 added, 0 replaced, € 2.034,56 in all" in done.out
    first = [
        ("2026-03-01", "marketplace", "autotrack-top", "NL-EHV", Decimal("1234.56")),
        ("2026-03-01", "website", "spring-sale", None, Decimal("800.00")),
    ]
    assert stored(url) == first

    good.write_text("month,channel,campaign,dealer_code,amount\n2026-03,website,spring-sale,,900\n")
    again = cdp(url, tmp_path, "spend", "import", str(good))
    assert again.code == 0 and "0 added, 1 replaced" in again.out
    assert stored(url)[1][-1] == Decimal("900.00")

    bad = tmp_path / "bad.csv"
    bad.write_text(
        "month,channel,campaign,dealer_code,amount\n"
        "2026-04,phone,,,100\n"
        "2026-04,phone,,XX,100\n"
        "April,phone,,,100\n"
    )
    refused = cdp(url, tmp_path, "spend", "import", str(bad))
    one_line_error(refused, "nothing imported, 2 problems: line 3:")
    assert "line 4: 'April' is not a month" in refused.err
    assert len(stored(url)) == 2
    one_line_error(cdp(url, tmp_path, "spend", "import", str(tmp_path / "none.csv")), "cannot read")
    # Each file imported is one record in the audit trail; the refused one none.
    assert audited(url) == [
        ("command line", "spend imported: spend.csv: 2 added, 0 replaced, € 2.034,56 in all"),
        ("command line", "spend imported: spend.csv: 0 added, 1 replaced, € 900,00 in all"),
    ]


def audited(url: str) -> list[tuple[str, str]]:
    engine = make_engine(url)
    try:
        with Session(engine) as session:
            return [
                (r.actor, r.detail)
                for r in session.scalars(
                    select(AuditRecord)
                    .where(AuditRecord.action == "spend")
                    .order_by(AuditRecord.id)
                )
            ]
    finally:
        engine.dispose()


def test_the_help_names_the_columns(url: str, tmp_path: Path) -> None:
    shown = cdp(url, tmp_path, "spend", "import", "--help")
    assert shown.code == 0, shown.err
    assert "month,channel,campaign,dealer_code,amount" in " ".join(shown.out.split())
