"""`cdp leads sla-check`: the speed-to-lead warnings due now, for a periodic job (cron, a systemd
timer) where no server runs (a running server checks every minute). Registered on `cdp leads`
in cdp/cli.py."""

from __future__ import annotations

import typer

from cdp.config import get_settings
from cdp.db import make_engine, make_sessionmaker, session_scope


def sla_check() -> None:
    """Warn once about each lead not contacted by its warning time, and count breaches: one
    line per lead warned now (dealer, lead, customer, due time)."""
    from cdp.leads.sla_alerts import warned_now
    from cdp.migrate import upgrade
    from cdp.models import utcnow

    settings = get_settings()
    engine = make_engine(settings.database_url, pool_size=settings.db_pool_size)
    try:
        upgrade(engine)
        with session_scope(make_sessionmaker(engine)) as session:
            states = warned_now(session, utcnow())
            for state in states:
                typer.echo(
                    f"{state.dealer_code or '(no dealer)'}  lead {state.lead.id}  "
                    f"{state.customer or 'Anonymous visitor'}  "
                    f"{'breached' if state.breached else 'at risk'}, first contact due "
                    f"{state.due_at.isoformat(timespec='minutes')}"
                )
            typer.echo(f"{len(states)} leads warned about")
    finally:
        engine.dispose()
