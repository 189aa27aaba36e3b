"""Plain-text tables for terminal output (aligned columns, markdown-compatible)."""

from __future__ import annotations


def format_table(header: list[str], rows: list[list[str]]) -> str:
    """Render ``rows`` under ``header`` as a markdown table with padded columns."""
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]

    def line(cells: list[str]) -> str:
        return "| " + " | ".join(str(c).ljust(w) for c, w in zip(cells, widths)) + " |"

    separator = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(header), separator, *(line(r) for r in rows)])
