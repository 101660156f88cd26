"""The candidates table: its columns and how a cell is written, in one place.

``matforge candidates`` (table, CSV, JSON), ``matforge run``'s summary and
the campaign report all render the paper's table from these columns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

Style = Literal["table", "csv"]


@dataclass(frozen=True)
class Column:
    """One column of the candidates table."""

    heading: str
    """Heading on the screen and in the report."""
    field: str
    """The candidates document's field (``rank`` from the ranking)."""
    csv: str
    """Column name in CSV output, as in the paper's table."""
    unit: str | None = None
    """Unit, shown in the report's heading."""
    report: bool = True
    """Whether the report's top-candidates table has it."""
    screen: bool = True
    """Whether ``matforge candidates`` shows it (CSV and JSON always have it)."""

    def report_heading(self) -> str:
        """Return the heading with its unit."""
        return f"{self.heading} ({self.unit})" if self.unit else self.heading


CANDIDATE_COLUMNS: tuple[Column, ...] = (
    Column("rank", "rank", "rank"),
    Column("formula", "formula", "formula"),
    Column(
        "E_form pred",
        "formation_energy_per_atom",
        "e_form_predicted_ev_per_atom",
        "eV/atom",
    ),
    Column(
        "E_form DFT",
        "formation_energy_dft_per_atom",
        "e_form_dft_ev_per_atom",
        "eV/atom",
    ),
    Column("score", "storage_score", "h_storage_score"),
    Column("sq. error", "squared_error", "squared_error"),
    Column("known id", "reference_id", "mp_id"),
    Column("same formula", "same_formula", "same_formula"),
    Column("same ratio", "same_ratio", "same_ratio"),
    Column("e_above_hull", "e_above_hull", "e_above_hull_ev_per_atom", "eV/atom"),
    Column(
        "E_hull DFT",
        "e_above_hull_dft",
        "e_above_hull_dft_ev_per_atom",
        "eV/atom",
        screen=False,
    ),
    Column("decomposition", "decomposition", "decomposition", screen=False),
    Column("stable", "is_stable", "stable"),
    Column("novel", "is_novel", "novel"),
    Column("candidate_id", "candidate_id", "candidate_id", report=False),
)
"""The paper's columns (formula, E_form predicted / DFT, score, squared error,
MP id, same formula, same ratio) plus the hull distance and the flags."""

CANDIDATE_FIELDS: tuple[str, ...] = tuple(
    c.field for c in CANDIDATE_COLUMNS if c.field != "rank"
)
"""The candidates fields the table reads."""


def cell(value: Any, style: Style = "table") -> str:
    """Return one cell: 3 decimals and yes / no on screen, full values in CSV.

    Parameters
    ----------
    value
        The value (None and NaN are empty).
    style
        ``table`` (screen, Markdown, HTML) or ``csv``.
    """
    csv_style = style == "csv"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "" if csv_style else "-"
    if isinstance(value, list) and all(isinstance(v, dict) for v in value):
        # hull products: "0.500 HfH2 + 0.500 ScH2"
        return " + ".join(
            f"{float(v.get('fraction', 0)):.3f} {v.get('formula', '?')}" for v in value
        )
    if isinstance(value, bool):
        if csv_style:
            return "TRUE" if value else "FALSE"
        return "yes" if value else "no"
    if isinstance(value, float):
        return repr(value) if csv_style else f"{value:.3f}"
    return str(value)


def table_rows(
    rows: list[dict[str, Any]], report: bool = False
) -> tuple[list[str], list[dict[str, str]]]:
    """Return the headings and the formatted cells of ranked candidates.

    Parameters
    ----------
    rows
        Ranked candidates (:func:`matforge.stores.queries.ranked_candidates`).
    report
        The report's columns and headings (with units) instead of the screen's.
    """
    columns = [c for c in CANDIDATE_COLUMNS if (c.report if report else c.screen)]
    heads = [c.report_heading() if report else c.heading for c in columns]
    cells = [
        {head: cell(row.get(c.field)) for head, c in zip(heads, columns, strict=True)}
        for row in rows
    ]
    return heads, cells


def csv_rows(rows: list[dict[str, Any]]) -> list[list[str]]:
    """Return the CSV header and rows of ranked candidates (the paper's names)."""
    return [[c.csv for c in CANDIDATE_COLUMNS]] + [
        [cell(row.get(c.field), "csv") for c in CANDIDATE_COLUMNS] for row in rows
    ]


def json_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return ranked candidates with the table's fields only."""
    return [{c.field: row.get(c.field) for c in CANDIDATE_COLUMNS} for row in rows]
