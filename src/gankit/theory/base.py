"""The report every theory check returns, and how it is written.

A theory check turns one result of the lectures into something a user can run: it computes the numbers
(closed forms, numerical integration, small trainings), states the lecture's claim, records each
numerical assertion as a named pass/fail check, and saves a figure. ``gankit theory NAME`` prints the
table and the checks and exits 1 if any check fails.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit.fileio import atomic_write_text


@dataclass
class TheoryReport:
    """Result of one theory check.

    Attributes:
        name: registry name (e.g. "optimal-discriminator").
        title: one line.
        claim: the lecture's statement being checked, citing the lecture by title (docs/protocols.md, "Lectures").
        rows: the table, one dict per row (same keys in every row; values are numbers or strings).
        checks: named numerical assertions -> passed?
        figures: PNG files written.
        notes: free text shown under the table (what to look at in the figure).
    """

    name: str
    title: str
    claim: str
    rows: list[dict[str, Any]] = field(default_factory=list)
    checks: dict[str, bool] = field(default_factory=dict)
    figures: list[Path] = field(default_factory=list)
    notes: str = ""

    @property
    def passed(self) -> bool:
        return all(self.checks.values())

    def table_markdown(self, digits: int = 4) -> str:
        if not self.rows:
            return ""
        keys = list(self.rows[0])

        def fmt(v: Any) -> str:
            if isinstance(v, float):
                if math.isinf(v):
                    return "∞" if v > 0 else "-∞"
                return f"{v:.{digits}g}"
            return str(v)

        lines = ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
        lines += ["| " + " | ".join(fmt(r.get(k, "")) for k in keys) + " |" for r in self.rows]
        return "\n".join(lines)

    def to_markdown(self) -> str:
        parts = [f"### {self.title}", "", f"*Claim:* {self.claim}", "", self.table_markdown()]
        if self.checks:
            parts += ["", *[f"- [{'x' if ok else ' '}] {name}" for name, ok in self.checks.items()]]
        if self.notes:
            parts += ["", self.notes]
        if self.figures:
            parts += ["", *[f"Figure: `{p}`" for p in self.figures]]
        return "\n".join(parts)

    def save(self, out_dir: Path) -> Path:
        """Write ``out_dir/<name>.json`` (rows, checks, figures) and return its path."""
        def clean(v: Any) -> Any:
            if isinstance(v, float) and not math.isfinite(v):
                return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
            return v

        data = {
            "name": self.name, "title": self.title, "claim": self.claim, "passed": self.passed,
            "rows": [{k: clean(v) for k, v in r.items()} for r in self.rows],
            "checks": self.checks, "figures": [str(p) for p in self.figures], "notes": self.notes,
        }
        path = Path(out_dir) / f"{self.name}.json"
        atomic_write_text(path, json.dumps(data, indent=2))
        return path
