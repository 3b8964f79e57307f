"""The funnel page's tables as rows of text, for their CSV downloads: the steps per channel, the
why next to the network, lost reasons per channel, the monthly trend. Rates are written as
fractions with four decimals (0.2143), empty where there is no figure."""

from __future__ import annotations

from collections.abc import Callable

from cdp.leads.funnel import STEPS, Funnel
from cdp.leads.funnel_why import Why

TABLES = ("steps", "why", "lost", "trend")


def _rate(value: float | None) -> str:
    return "" if value is None else f"{value:.4f}"


def _number(value: float | None, digits: int = 1) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def steps_table(funnel: Funnel) -> list[list[str]]:
    header = ["channel", "leads", "valid_leads"]
    for step in STEPS:
        header += [
            step,
            f"{step}_conversion",
            f"{step}_conversion_norm",
            f"{step}_share_of_leads",
            f"{step}_norm",
            f"{step}_below_norm",
        ]
    header += ["lead_to_sale", "lead_to_sale_norm", "verdict", "open", "lost"]
    rows = [header]
    for row in [*funnel.channels, funnel.total]:
        cells = [row.label, str(row.leads), str(row.valid)]
        for step in STEPS:
            cells += [
                str(row.counts[step]),
                _rate(row.conversion(step)),
                _rate(row.norm_rate(step)),
                _rate(row.share(step)),
                _rate(row.norm(step)),
                "yes" if row.below(step) else "",
            ]
        cells += [
            _rate(row.lead_to_sale),
            _rate(row.lead_to_sale_norm),
            row.verdict or "",
            str(row.counts["open"]),
            str(row.counts["lost"]),
        ]
        rows.append(cells)
    return rows


WHY_FIGURES: tuple[tuple[str, Callable[[Why], str]], ...] = (
    ("valid leads", lambda w: str(w.leads)),
    ("contacted", lambda w: str(w.contacted)),
    ("median seconds to first contact", lambda w: _number(w.median_first_contact_s, 0)),
    ("share contacted within 5 minutes", lambda w: _rate(w.share(w.within_5_min))),
    ("share contacted within 1 hour", lambda w: _rate(w.share(w.within_1_hour))),
    ("reached by a contact attempt", lambda w: str(w.reached)),
    ("median attempts to reach", lambda w: _number(w.median_attempts)),
    ("mean attempts to reach", lambda w: _number(w.mean_attempts, 2)),
    ("show rate", lambda w: _rate(w.show_rate)),
    ("test-drive rate", lambda w: _rate(w.test_drive_rate)),
    ("sold", lambda w: str(w.sold)),
    ("median days lead to sale", lambda w: _number(w.median_cycle_days)),
)


def why_table(funnel: Funnel) -> list[list[str]]:
    header = ["figure", "value"] + (["network"] if funnel.network_why is not None else [])
    rows = [header]
    for name, read in WHY_FIGURES:
        cells = [name, read(funnel.why)]
        if funnel.network_why is not None:
            cells.append(read(funnel.network_why))
        rows.append(cells)
    return rows


def lost_table(funnel: Funnel, labels: dict[str, str]) -> list[list[str]]:
    rows = [["channel", "lost_reason", "leads", "share", "network_share"]]
    for channel, reasons in funnel.lost.items():
        for reason in reasons:
            rows.append(
                [
                    labels.get(channel, "All channels" if channel == "all" else channel),
                    reason.reason,
                    str(reason.leads),
                    _rate(reason.share),
                    _rate(reason.network_share),
                ]
            )
    return rows


def trend_table(funnel: Funnel) -> list[list[str]]:
    rows = [["month", "leads", "sales"]]
    rows += [[m.month.strftime("%Y-%m"), str(m.leads), str(m.sold)] for m in funnel.trend]
    return rows
