"""`cdp spend import FILE`: marketing spend from a CSV file, as the spend page imports it (the
operator's command: the network's and any dealer's spend)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from cdp.config import get_settings
from cdp.db import make_sessionmaker, session_scope
from cdp.errors import CdpError

spend_app = typer.Typer(
    help="Marketing spend per month, channel and campaign (docs/spend.md).", no_args_is_help=True
)


@spend_app.command("import")
def spend_import(
    file: Annotated[
        Path,
        typer.Argument(
            metavar="FILE.csv",
            help="A CSV file with a header: month,channel,campaign,dealer_code,amount[,note] "
            "(months as 2026-03 or 03-2026, amounts as 1234.56 or 1.234,56; an empty "
            "dealer_code is the importer's network spend)",
        ),
    ],
) -> None:
    """Add spend from a CSV file (a known month, channel, campaign and dealer gets the file's
    amount); a file with any mistake changes nothing."""
    from cdp.cli_support import migrated_engine
    from cdp.dealers.visibility import NETWORK
    from cdp.spend.amounts import euros
    from cdp.spend.importing import apply_import, plan_import

    try:
        text = file.read_text(encoding="utf-8-sig")
    except OSError as error:
        raise CdpError(f"cannot read {file}: {error.strerror}") from None
    except UnicodeDecodeError:
        raise CdpError(f"{file} is not UTF-8 text (save it as CSV UTF-8)") from None
    engine = migrated_engine(get_settings())
    try:
        with session_scope(make_sessionmaker(engine)) as session:
            plan = plan_import(session, text, scope=NETWORK)
            if plan.problems:
                shown = "; ".join(plan.problems[:5])
                more = len(plan.problems) - 5
                raise CdpError(
                    f"nothing imported, {len(plan.problems)} problems: {shown}"
                    + (f"; and {more} more" if more > 0 else "")
                )
            apply_import(session, plan, by_user_id=None, actor="command line", name=file.name)
    finally:
        engine.dispose()
    typer.echo(
        f"imported {file}: {plan.added} added, {plan.replaced} replaced, {euros(plan.total)} in all"
    )
