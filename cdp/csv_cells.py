"""CSV cells a spreadsheet will not run: OWASP's "CSV injection" rule, shared by every CSV the
product writes (segment exports, the funnel's tables)."""

from __future__ import annotations

# What a spreadsheet may run as a formula when a cell starts with it, with the full-width forms
# some spreadsheets accept too.
FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")


def neutralise(cell: str) -> str:
    """A cell a spreadsheet would run as a formula, made text with a leading single quote."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell
