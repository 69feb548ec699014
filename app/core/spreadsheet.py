"""CSV cells a spreadsheet would run as formulas, neutralised on export (and restored on
import), shared by every CSV export."""

from __future__ import annotations

from typing import Any

# A spreadsheet runs a cell that starts with one of these as a formula (`=HYPERLINK(…)`,
# `@SUM(…)`, DDE through `+`/`-`): such cells leave with a leading apostrophe, the usual
# "this is text" mark. Cells that already start with one get another, so that import, which
# takes one apostrophe off, gives back exactly what was exported.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "'")


def safe_cell(value: Any) -> str:
    """`value` as CSV cell text that no spreadsheet runs (None is an empty cell)."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


def cell_value(raw: str) -> str:
    """The value of an exported cell (`safe_cell` undone)."""
    return raw[1:] if raw.startswith("'") else raw
