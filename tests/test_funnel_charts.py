"""The funnel page's drawings (cdp/leads/funnel_charts.py): an axis a person can read at any
size of network, and channel names that do not squeeze the plot."""

from __future__ import annotations

import itertools
import re

import pytest

from cdp.leads.funnel import STEPS, ChannelFunnel
from cdp.leads.funnel_charts import axis_ticks, conversion_chart, funnel_chart


def texts(svg: str) -> list[str]:
    return re.findall(r"<text[^>]*>([^<]*)</text>", svg)


@pytest.mark.parametrize("top", [0, 1, 3, 7, 10, 42, 99, 100, 101, 1499, 1500, 1501, 123_456])
def test_the_axis_has_at_most_five_round_ticks_from_zero_past_the_largest_value(
    top: int,
) -> None:
    ticks = axis_ticks(top)
    assert ticks[0] == 0 and 2 <= len(ticks) <= 5
    assert ticks[-1] >= top
    steps = {b - a for a, b in itertools.pairwise(ticks)}
    assert len(steps) == 1
    (step,) = steps
    assert str(step).rstrip("0") in ("1", "2", "5")


def _funnel(label: str, valid: int, channel: str = "phone") -> ChannelFunnel:
    counts = {"leads": valid, "valid": valid, "open": 0, "lost": 0}
    counts |= {step: valid // (i + 2) for i, step in enumerate(STEPS)}
    return ChannelFunnel(channel=channel, label=label, counts=counts, norms={})


def test_a_network_of_fifteen_hundred_leads_gets_a_readable_axis() -> None:
    """The tester's network: a tick every 100 up to 1,500 ran the labels together."""
    svg = funnel_chart(_funnel("Phone", 1_480))
    shown = texts(svg)
    assert "1,000" in shown and "1,500" in shown
    assert "100" not in shown and "1,100" not in shown


def test_a_long_channel_name_is_cut_under_the_chart() -> None:
    name = "Importer campaign landing pages autumn"
    svg = conversion_chart(_funnel("All", 10, "all"), [_funnel(name, 10), _funnel("Phone", 10)])
    assert name not in texts(svg)
    assert any(text.startswith("Importer campaign") and text.endswith("…") for text in texts(svg))
