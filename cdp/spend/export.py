"""The return as a CSV download: one line per month, channel and campaign, then one per channel
for the whole period, amounts with a decimal point (what a spreadsheet reads either way)."""

from __future__ import annotations

import csv
import io

from cdp.spend.amounts import euros_plain
from cdp.spend.returns import Figures, SpendReturn

HEADER = ("month", "channel", "campaign", "leads", "valid_leads", "sales", "spend",
          "cost_per_lead", "cost_per_valid_lead", "cost_per_sale", "margin_of_paid_sales",
          "return_on_spend")  # fmt: skip


# A campaign name comes from a website's utm parameters: anyone can make one start with what a
# spreadsheet runs as a formula (OWASP "CSV injection"), so such a cell is made text.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def _text(cell: str) -> str:
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def _cells(figures: Figures) -> list[str]:
    ros = figures.return_on_spend
    return [
        str(figures.leads),
        str(figures.valid),
        str(figures.sales),
        euros_plain(figures.spend),
        euros_plain(figures.cost_per_lead),
        euros_plain(figures.cost_per_valid_lead),
        euros_plain(figures.cost_per_sale),
        "" if figures.paid_unpriced else euros_plain(figures.paid_earned),
        "" if ros is None else f"{ros:.4f}",
    ]


def return_csv(report: SpendReturn) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(HEADER)
    for channel in report.channels:
        for line in channel.campaigns:
            for month, figures in line.months.items():
                writer.writerow([month.strftime("%Y-%m"), channel.channel, _text(line.campaign),
                                 *_cells(figures)])  # fmt: skip
    for channel in report.channels:
        writer.writerow([report.period.key, channel.channel, "(all)", *_cells(channel.total)])
    writer.writerow([report.period.key, "(all)", "(all)", *_cells(report.total)])
    return out.getvalue()
