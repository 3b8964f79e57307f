"""The funnel page's charts, drawn on the server as SVG by pygal (pinned in pyproject.toml).

Why pygal: it is a well-kept charting library that renders to SVG in Python, so the page needs
no chart script, works without JavaScript and passes the content security policy
(cdp/web_security.py: scripts only from the app; inline styles allowed, which pygal's `<style>`
uses). pygal's interactive script is switched off, and its inline configuration `<script>` is
removed from the drawing before it is sent (the policy would refuse it anyway). Every chart has
a table beside it holding the same figures, for screen readers and the CSV.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import pygal
from markupsafe import Markup
from pygal.style import Style

from cdp.leads.funnel import STEPS, ChannelFunnel, TrendMonth

SVG = "{http://www.w3.org/2000/svg}"
STEP_LABELS = {
    "reached": "Reached",
    "appointment": "Appointment",
    "show": "Show",
    "test_drive": "Test drive",
    "quote": "Quote",
    "sold": "Sold",
}
STYLE = Style(
    background="transparent",
    plot_background="transparent",
    foreground="#1f2937",
    foreground_strong="#111827",
    foreground_subtle="#d1d5db",
    font_family="system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif",
    label_font_size=15,
    major_label_font_size=15,
    legend_font_size=16,
    value_font_size=14,
    tooltip_font_size=14,
    colors=("#2563eb", "#111827", "#10b981", "#f59e0b"),
)


def _without_scripts(tree: Any) -> Any:
    for parent in tree.iter():
        for child in list(parent):
            if child.tag in ("script", f"{SVG}script"):
                parent.remove(child)
    return tree


def _render(chart: Any, title: str) -> Markup:
    chart.add_xml_filter(_without_scripts)
    svg: str = chart.render(is_unicode=True)
    # The drawing is named for assistive technology; the table beside it has the figures.
    svg = svg.replace("<svg ", f'<svg role="img" aria-label="{Markup.escape(title)}" ', 1)
    return Markup(svg)


def _config(**extra: Any) -> dict[str, Any]:
    return {
        "style": STYLE,
        "js": [],
        "disable_xml_declaration": True,
        "explicit_size": False,
        "width": 560,
        "height": 360,
        "margin": 8,
        "legend_box_size": 14,
        # The legend is the page's (HTML beside the chart): pygal's is too small once scaled.
        "show_legend": False,
        "print_values": False,
        "truncate_label": -1,
        "show_y_guides": True,
        **extra,
    }


# A chart is a pure function of its figures, and most views repeat the figures of a view
# before (the same period reloaded, the network's figures beside each dealer's): drawn once per
# server process for each set of figures (pygal: 5 to 8 ms a chart, a fifth of a page's CPU).
CACHED_DRAWINGS = 256


def funnel_chart(row: ChannelFunnel) -> Markup:
    """How many leads reached each step: one bar per step, widest first."""
    labels = ("Valid leads", *(STEP_LABELS[step] for step in STEPS))
    values = (row.valid, *(row.counts[step] for step in STEPS))
    return _funnel_drawing(row.label, labels, values)


def axis_ticks(top: float, most: int = 5) -> list[int]:
    """At most `most` round ticks from 0 past `top` (steps of 1, 2 or 5 times a power of ten):
    pygal's own put one every 100 up to 1,500, their labels on top of each other."""
    step = 1
    while top / step > most - 1:
        for factor in (2, 5 / 2, 2):  # 1 -> 2 -> 5 -> 10, 10 -> 20 -> 50 -> 100, ...
            step = round(step * factor)
            if top / step <= most - 1:
                break
    return list(range(0, int(top) + step, step))[:most] if top > 0 else [0, 1]


@lru_cache(maxsize=CACHED_DRAWINGS)
def _funnel_drawing(label: str, labels: tuple[str, ...], values: tuple[int, ...]) -> Markup:
    ticks = axis_ticks(max(values, default=0))
    chart = pygal.HorizontalBar(
        **_config(
            print_values=True,
            value_formatter=lambda v: f"{v:,.0f}",
            y_labels=ticks,
            range=(0, max(ticks[-1], max(values, default=0))),
        )
    )
    chart.title = None
    chart.x_labels = list(reversed(labels))
    chart.add("Leads", list(reversed(values)))
    return _render(
        chart,
        f"Funnel of {label}: "
        + ", ".join(f"{name} {value}" for name, value in zip(labels, values, strict=True)),
    )


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value * 100, 1)


def conversion_chart(focus: ChannelFunnel, channels: list[ChannelFunnel]) -> Markup:
    """Conversion against the norm: for one channel, the share of its valid leads reaching
    each step next to the step's norm; for all channels, each channel's lead-to-sale next to
    its norm (a mix of channels has no one norm per step)."""
    if focus.channel != "all":
        return _conversion_drawing(
            f"Share of the leads reaching each step against the norm, {focus.label}",
            tuple(STEP_LABELS[step] for step in STEPS),
            ("Share of leads", tuple(_pct(focus.share(step)) for step in STEPS)),
            ("Norm", tuple(_pct(focus.norm(step)) for step in STEPS)),
            0,
        )
    shown = [row for row in channels if row.valid]
    return _conversion_drawing(
        "Lead to sale per channel against its norm",
        tuple(row.label for row in shown),
        ("Lead to sale", tuple(_pct(row.lead_to_sale) for row in shown)),
        ("Norm", tuple(_pct(row.lead_to_sale_norm) for row in shown)),
        20,
    )


Series = tuple[str, tuple[float | None, ...]]


@lru_cache(maxsize=CACHED_DRAWINGS)
def _conversion_drawing(
    title: str, labels: tuple[str, ...], first: Series, second: Series, rotation: int
) -> Markup:
    chart = pygal.Bar(
        **_config(
            range=(0, 100),
            value_formatter=lambda v: "–" if v is None else f"{v:.0f}%",
            y_labels=[0, 25, 50, 75, 100],
            x_label_rotation=rotation,
            # A long channel name is cut with an ellipsis (the table has it whole): in full it
            # squeezed the plot and ran out of its card.
            truncate_label=18,
        )
    )
    chart.x_labels = list(labels)
    for name, values in (first, second):
        chart.add(name, list(values))
    return _render(chart, title)


def trend_chart(months: list[TrendMonth]) -> Markup:
    """Leads and sales per month, the last twelve months."""
    return _trend_drawing(
        tuple(month.month.strftime("%b %y") for month in months),
        tuple(month.leads for month in months),
        tuple(month.sold for month in months),
    )


@lru_cache(maxsize=CACHED_DRAWINGS)
def _trend_drawing(
    labels: tuple[str, ...], leads: tuple[int, ...], sold: tuple[int, ...]
) -> Markup:
    chart = pygal.Line(
        **_config(
            dots_size=3,
            value_formatter=lambda v: f"{v:,.0f}",
            x_label_rotation=0,
            show_minor_x_labels=True,
            min_scale=2,
            include_x_axis=True,
        )
    )
    chart.x_labels = list(labels)
    chart.add("Leads", list(leads))
    chart.add("Sales", list(sold))
    return _render(chart, "Leads and sales per month")
