"""`cdp leads import`: ADF leads from files, the way dealer CRMs receive them (the XML, an
e-mail message .eml, or a mailbox .mbox)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session

from cdp.cli_support import fail, migrated_engine
from cdp.config import get_settings
from cdp.db import make_sessionmaker, session_scope

if TYPE_CHECKING:
    from cdp.auth.service import SourceInfo

leads_app = typer.Typer(help="Leads from other systems (ADF XML).", no_args_is_help=True)

DEFAULT_SOURCE = "ADF import"


def _source(session: Session, name: str | None) -> SourceInfo:
    from cdp.auth.service import SourceInfo, create_source
    from cdp.models import Source

    wanted = name or DEFAULT_SOURCE
    row = session.scalar(select(Source).where(Source.name == wanted))
    if row is None:
        if name is not None:
            raise fail(f"no source is named {name!r} (see: cdp source list)")
        row, _key = create_source(session, name=DEFAULT_SOURCE, kind="importer", origins=[])
    if not row.active:
        raise fail(f"source {wanted!r} is deactivated")
    return SourceInfo(id=row.id, name=row.name, kind=row.kind, origins=tuple(row.origins))


@leads_app.command("import")
def leads_import(
    files: Annotated[
        list[Path],
        typer.Argument(help="ADF files: .xml, an e-mail message (.eml) or a mailbox (.mbox)"),
    ],
    source: Annotated[
        str | None,
        typer.Option(
            help="The source the leads came from (its kind gives their channel: marketplace, "
            f"importer, ...); default: a source named {DEFAULT_SOURCE!r} of kind importer"
        ),
    ] = None,
) -> None:
    """Import ADF leads: each becomes a profile, a configuration and a lead, routed to its
    dealer. A resend of a known lead is recognised; a document that is no lead is refused with
    the reason and kept in the quarantine. Exits 1 if any was refused."""
    from cdp.adf.mail import bodies_of_file
    from cdp.adf.service import import_document

    for path in files:
        if not path.is_file():
            raise fail(f"{path}: no such file")
    settings = get_settings()
    engine = migrated_engine(settings)
    counts = {"created": 0, "duplicate": 0, "refused": 0}
    try:
        factory = make_sessionmaker(engine)
        for path in files:
            try:
                bodies = bodies_of_file(path)
            except (OSError, ValueError) as error:
                raise fail(f"{path}: cannot be read ({error})") from None
            with session_scope(factory) as session:
                info = _source(session, source)
                for body in bodies:
                    for outcome in import_document(
                        session,
                        body,
                        source=info,
                        received_at=datetime.now(UTC),
                        phone_region=settings.default_phone_region,
                        rules=settings.identity_rules(),
                    ):
                        counts[outcome.status] += 1
                        who = outcome.name or "a customer"
                        if outcome.status == "refused":
                            typer.echo(f"{path}: refused: {outcome.reason}", err=True)
                        elif outcome.status == "duplicate":
                            typer.echo(f"{path}: {who}: already known (a resend), skipped")
                        else:
                            typer.echo(f"{path}: {who}: stored")
    finally:
        engine.dispose()
    typer.echo(
        f"{counts['created']} stored, {counts['duplicate']} resends skipped, "
        f"{counts['refused']} refused"
    )
    if counts["refused"]:
        raise typer.Exit(code=1)


@leads_app.command("deliver")
def leads_deliver() -> None:
    """Send new leads to the dealers' CRMs that asked for them (`cdp leads crm`), and retry
    the ones whose CRM did not take them yet. Running servers do this by themselves every
    20 seconds; schedule this where no server runs."""
    from cdp.adf.delivery import deliver_due

    engine = migrated_engine(get_settings())
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            run = deliver_due(session)
    finally:
        engine.dispose()
    typer.echo(
        f"{run.queued} queued, {run.delivered} delivered, {run.retrying} to retry, "
        f"{run.failed} given up"
    )


@leads_app.command("crm")
def leads_crm(
    code: Annotated[str, typer.Argument(help="The dealer's code, e.g. NL-EIN1")],
    url: Annotated[
        str | None,
        typer.Argument(help="Where its new leads are POSTed as ADF, e.g. https://crm.example/adf"),
    ] = None,
    off: Annotated[bool, typer.Option("--off", help="Stop delivering to the CRM")] = False,
) -> None:
    """Deliver a dealer's new leads to its own CRM as ADF (leads from now on, not older ones)."""
    from cdp.adf.delivery import set_address
    from cdp.dealers.service import dealer_by_code
    from cdp.models import utcnow

    if (url is None) == (not off):
        raise fail("give either the CRM's address or --off")
    engine = migrated_engine(get_settings())
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            dealer = dealer_by_code(session, code)
            set_address(session, dealer, None if off else url, now=utcnow())
            said = f"to {dealer.adf_url}" if dealer.adf_url else "no more"
            typer.echo(f"{dealer.code}: new leads are delivered {said}")
    finally:
        engine.dispose()
