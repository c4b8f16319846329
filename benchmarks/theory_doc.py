"""Render docs/theory.md from the JSON results of `gankit theory all -o docs/theory`.

    gankit theory all -o docs/theory      # runs every check (full mode), writes docs/theory/*.json and *.png
    python benchmarks/theory_doc.py       # docs/theory/*.json -> docs/theory.md
"""

from __future__ import annotations

import json
import math
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"


def fmt(v: object) -> str:
    if isinstance(v, float):
        return "∞" if math.isinf(v) else f"{v:.4g}"
    return str(v)


def main() -> None:
    from gankit.registry import THEORY

    parts = [
        "# The lectures' theory, checked",
        "",
        "Each result of the lectures is a command that computes it, states the claim, checks it numerically and",
        "draws it. `gankit theory list` names them; `gankit theory NAME` runs one (add `--quick` for a fast",
        "version), exits 1 if a check fails, and writes `NAME.json` and its figures to `-o DIR` (default `theory/`).",
        "The tables below come from `gankit theory all -o docs/theory` (full mode, one torch thread),",
        "rendered by `python benchmarks/theory_doc.py`.",
        "",
    ]
    for name in THEORY.names():
        path = DOCS / "theory" / f"{name}.json"
        if not path.is_file():
            parts += [f"## {name}", "", f"*(not run yet: `gankit theory {name} -o docs/theory`)*", ""]
            continue
        r = json.loads(path.read_text())
        parts += [f"## {name}: {r['title']}", "", f"**Claim.** {r['claim']}", "",
                  f"**Command.** `gankit theory {name}`", ""]
        if r["rows"]:
            keys = list(r["rows"][0])
            parts += ["| " + " | ".join(keys) + " |", "|" + "---|" * len(keys)]
            parts += ["| " + " | ".join(fmt(row.get(k, "")) for k in keys) + " |" for row in r["rows"]]
            parts.append("")
        parts += [f"- {'✅' if ok else '❌'} {check}" for check, ok in r["checks"].items()]
        parts.append("")
        if r.get("notes"):
            parts += [r["notes"], ""]
        for fig in r["figures"]:
            rel = Path(fig)
            if rel.is_absolute() and DOCS in rel.parents:
                rel = rel.relative_to(DOCS)
            elif rel.parts[:1] == ("docs",):
                rel = Path(*rel.parts[1:])
            parts += [f"![{name}]({rel.as_posix()})", ""]
    (DOCS / "theory.md").write_text("\n".join(parts))
    print(f"wrote {DOCS / 'theory.md'}")


if __name__ == "__main__":
    main()
