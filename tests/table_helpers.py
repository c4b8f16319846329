"""Reading the metric table that ``gankit eval`` and the training summary print (cli.eval_table)."""

from __future__ import annotations

import re


def metric_table(out: str) -> dict[str, dict[str, str]]:
    """The first metric table in ``out``: {metric: {column: cell}}, columns split at two or more spaces."""
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("metric "))
    header = re.split(r"\s{2,}", lines[start])
    rows = {}
    for line in lines[start + 2:]:
        if not re.match(r"^\S+  ", line):  # the table ends at a line that is not a row
            break
        cells = re.split(r"\s{2,}", line)
        rows[cells[0]] = dict(zip(header, cells + [""] * (len(header) - len(cells))))
    return rows


def number(cell: str) -> float:
    """The value of a cell 'v', 'v [low, high]' or 'v ± std'."""
    return float(cell.split()[0])
