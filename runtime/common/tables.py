"""Aligned text tables, as kubectl prints them: upper-case header, two spaces apart."""

from __future__ import annotations

from collections.abc import Sequence


def render_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Render ``rows`` under ``header`` (upper-cased) as left-aligned columns."""
    cells = [[h.upper() for h in header]] + [[str(c) for c in row] for row in rows]
    widths = [max(len(line[i]) for line in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in cells
    )
