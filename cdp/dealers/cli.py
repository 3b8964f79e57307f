"""`cdp dealer`: create, list and import the dealers of the network."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.orm import Session

from cdp.config import get_settings
from cdp.db import make_engine, make_sessionmaker, session_scope
from cdp.errors import CdpError, InvalidInput

dealer_app = typer.Typer(
    help="The dealer network: locations, the postal-code areas they serve, their staff.",
    no_args_is_help=True,
)


@contextmanager
def _database() -> Iterator[Session]:
    """The migrated database, one transaction: committed when the command succeeds."""
    from cdp.migrate import upgrade

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        upgrade(engine)
        with session_scope(make_sessionmaker(engine)) as session:
            yield session
    finally:
        engine.dispose()


@dealer_app.command("create")
def dealer_create(
    code: Annotated[str, typer.Argument(help="A short code, e.g. NL-EIN1 (letters, digits, -)")],
    name: Annotated[str, typer.Option(help="The dealer's name, e.g. 'Autohuis Eindhoven'")],
    postal_codes: Annotated[
        str, typer.Option(help="The postal-code areas it serves, e.g. 5611,5612")
    ] = "",
    address: Annotated[str, typer.Option(help="Street and number")] = "",
    postal_code: Annotated[str, typer.Option(help="The dealer's own postal code")] = "",
    city: Annotated[str, typer.Option(help="City")] = "",
    country: Annotated[str, typer.Option(help="Two-letter country code: NL, BE, ...")] = "NL",
    phone: Annotated[str, typer.Option(help="Phone number")] = "",
    time_zone: Annotated[
        str, typer.Option(help="e.g. Europe/Brussels (default: the installation's)")
    ] = "",
    opening_hours: Annotated[
        str, typer.Option(help="e.g. 'Mon-Fri 9-18, Sat 10-17' (default: always open)")
    ] = "",
    sla_minutes: Annotated[
        str, typer.Option(help="first contact due within these opening-hours minutes (30)")
    ] = "",
    sla_warning_minutes: Annotated[
        str, typer.Option(help="the manager is warned after these minutes (15)")
    ] = "",
    yes: Annotated[
        bool,
        typer.Option(
            "--yes",
            help="save it without asking when a postal-code area lies inside another dealer's "
            "(its leads then come to this dealer)",
        ),
    ] = False,
) -> None:
    """Add a dealer (a showroom location) to the network. An area another active dealer serves
    is refused; one inside another dealer's area is asked about first."""
    from cdp.dealers.repository import dealers_by_code
    from cdp.dealers.schemas import DealerFields
    from cdp.dealers.service import (
        COMMAND_LINE,
        area_takeovers,
        create_dealer,
        dealer_problems,
        normal_code,
    )

    fields = DealerFields(
        code=code,
        name=name,
        address=address,
        postal_code=postal_code,
        city=city,
        country=country,
        phone=phone,
        time_zone=time_zone,
        opening_hours=opening_hours,
        postal_areas=postal_codes,
        sla_minutes=sla_minutes,
        sla_warning_minutes=sla_warning_minutes,
    )
    with _database() as session:
        wanted = normal_code(code)
        # Every check first (the first problem said), then what the areas do to other dealers.
        problems = dealer_problems(fields, session=session)
        if problems:
            raise InvalidInput(next(iter(problems.values())))
        if not dealers_by_code(session, [wanted]):
            taken = area_takeovers(session, fields)
            if taken:
                _confirm_takeovers(wanted, [t.sentence(wanted) for t in taken], yes)
        dealer = create_dealer(session, fields, actor=COMMAND_LINE)
        areas = ", ".join(dealer.postal_areas) or "no postal-code areas"
        typer.echo(f"dealer {dealer.code} ({dealer.name}) created, serving {areas}")


def _confirm_takeovers(code: str, sentences: list[str], yes: bool) -> None:
    """Say which leads move to the new dealer; go on only if the operator says so (or gave
    --yes). Without an answer (no terminal) nothing is saved."""
    for sentence in sentences:
        typer.echo(f"{sentence}.")
    if yes:
        return
    try:
        agreed = typer.confirm(f"Save {code} anyway?", default=False)
    except typer.Abort:
        raise CdpError(
            f"{code} not saved: its postal-code areas take leads from another dealer "
            "(give --yes to save it anyway)"
        ) from None
    if not agreed:
        raise CdpError(f"{code} not saved")


@dealer_app.command("list")
def dealer_list() -> None:
    """List the dealers: code, name, city, whether active, staff, postal-code areas."""
    from cdp.dealers.service import all_dealers, staff_counts

    with _database() as session:
        counts = staff_counts(session)
        for dealer in all_dealers(session):
            state = "active" if dealer.active else "inactive"
            place = ", ".join(p for p in (dealer.city, dealer.country) if p)
            areas = ", ".join(dealer.postal_areas) or "no postal-code areas"
            staff = counts.get(dealer.id, 0)
            typer.echo(
                f"{dealer.code}  {dealer.name}  ({place}, {state}, {staff} staff)  serves {areas}"
            )


@dealer_app.command("import")
def dealer_import(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help="A CSV file with a header: code,name,address,postal_code,city,country,phone,"
            "time_zone,opening_hours,postal_areas,active,sla_minutes,sla_warning_minutes (code and "
            "name are required)",
        ),
    ],
) -> None:
    """Create or update dealers from a CSV file; a file with any mistake changes nothing, and
    every mistake of every line is listed."""
    from cdp.dealers.importing import import_dealers
    from cdp.text import counted

    try:
        stream = file.open(encoding="utf-8-sig", newline="")
    except OSError as error:
        raise CdpError(f"cannot read {file}: {error.strerror}") from None
    with stream, _database() as session:
        result = import_dealers(session, stream, name=file.name)
    typer.echo(
        f"imported {file}: {counted(result.created, 'dealers')} created, {result.updated} updated"
    )
    for takeover in result.takeovers:
        typer.echo(f"note: {takeover}")
