"""The repository explains itself: every file that code, docs or README cite is in the repository.

Scans src/, docs/, benchmarks/, tests/, README.md and BENCHMARKS.md for
- names of files that were never in the repository (the first design and protocol notes, lecture files
  named by hash): cite docs/architecture.md, docs/protocols.md and lectures by title instead;
- relative markdown links whose target (or #anchor in a markdown target) does not exist;
- repository paths (docs/..., src/..., tests/..., benchmarks/..., and package paths such as nets/mlp.py)
  that do not exist;
- "docs/architecture.md rule N" and 'docs/protocols.md ("Section")' pointing to no rule or section.
"""

from __future__ import annotations

import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "src" / "gankit"
TEXT_SUFFIXES = {".py", ".md", ".yaml", ".json", ".txt", ".html", ".js", ".css", ".toml"}

# Files outside the repository that used to be cited. Written in pieces so this file does not cite them.
FORBIDDEN = re.compile("|".join([
    r"\bDESIGN" r"\.md\b",
    r"\bPROTOCOLS" r"\.md\b",
    r"\bdesign-notes" r"\.md\b",
    r"\bshared/" r"seeds\b",
    r"\b\d{3}_[0-9a-f]{16}(?:\.txt)?\b",  # lecture files named by hash
]))
MD_LINK = re.compile(r"!?\[[^\]\n]*\]\(([^)\s]+)\)")
REPO_PATH = re.compile(r"(?<![\w/.~$-])((?:docs|src|tests|benchmarks)/[\w./-]*[\w-])")
PACKAGE_PATH = re.compile(
    r"(?<![\w/.~$-])((?:nets|models|metrics|data|train|objectives|theory|viz|serve|presets)/[\w-]+\.(?:py|yaml))\b")
SECTION_REF = re.compile(r"docs/(architecture|protocols)\.md[,;:]? \(?[\"“]([^\"”\n]+)[\"”]")
RULE_REF = re.compile(r"docs/architecture\.md,? rules? (\d+)(?:-(\d+))?")


def _placeholder(path: str) -> bool:
    """A pattern, not a file: NAME.py, step-NNNNNN.png, *.json, {name}.json, <run>/..."""
    return any(c in path for c in "*{}<>") or any(
        re.fullmatch(r"[A-Z_]+", part.split(".")[0].split("-")[-1]) for part in path.split("/") if part)


def slug(heading: str) -> str:
    """GitHub's anchor for a markdown heading."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


@cache
def headings(path: Path) -> tuple[str, ...]:
    return tuple(m.group(1).strip() for m in re.finditer(r"^#+ (.+)$", path.read_text(), re.M))


@cache
def rule_count() -> int:
    text = (ROOT / "docs" / "architecture.md").read_text()
    rules = text.split("\n## Rules", 1)[1].split("\n## ", 1)[0]
    return len(re.findall(r"^(\d+)\. ", rules, re.M))


def problems(text: str, where: Path, root: Path = ROOT) -> list[str]:
    """Every reference in ``text`` (the contents of ``where``) that leads nowhere, one line each."""
    out = [f"{m.group(0)!r} is not in the repository (cite docs/architecture.md, docs/protocols.md "
           "or the lecture's title)" for m in FORBIDDEN.finditer(text)]
    if where.suffix == ".md":
        for m in MD_LINK.finditer(text):
            target = m.group(1)
            if re.match(r"[a-z]+:", target) or target.startswith("#"):
                continue
            file, _, anchor = target.partition("#")
            dest = (where.parent / file).resolve()
            if not dest.exists():
                out.append(f"link {target!r} leads to no file")
            elif anchor and dest.suffix == ".md" and anchor not in {slug(h) for h in headings(dest)}:
                out.append(f"link {target!r}: no heading with anchor '#{anchor}' in {file}")
    for m in REPO_PATH.finditer(text):
        path = m.group(1).rstrip(".")
        if path.startswith("benchmarks/out") or _placeholder(path):
            continue  # benchmark outputs are written by the scripts, not kept
        if not (root / path).exists():
            out.append(f"path {path!r} does not exist")
    for m in PACKAGE_PATH.finditer(text):
        if not _placeholder(m.group(1)) and not (root / "src" / "gankit" / m.group(1)).exists():
            out.append(f"path {m.group(1)!r} is not in src/gankit")
    for m in SECTION_REF.finditer(text):
        doc, name = m.groups()
        if not any(h.lower().startswith(name.lower()) for h in headings(root / "docs" / f"{doc}.md")):
            out.append(f"docs/{doc}.md has no section {name!r}")
    for m in RULE_REF.finditer(text):
        last = int(m.group(2) or m.group(1))
        if last > rule_count():
            out.append(f"{m.group(0)!r}: docs/architecture.md has {rule_count()} rules")
    return out


def scanned_files() -> list[Path]:
    files = [ROOT / "README.md", ROOT / "BENCHMARKS.md"]
    for top in ("src", "docs", "benchmarks", "tests"):
        files += sorted(p for p in (ROOT / top).rglob("*") if p.is_file() and p.suffix in TEXT_SUFFIXES
                        and not any(part.endswith(".egg-info") for part in p.parts)
                        and "out" not in p.relative_to(ROOT).parts[:2] and p != Path(__file__).resolve())
    return files


def test_every_cited_file_is_in_the_repository():
    found = [f"{p.relative_to(ROOT)}: {msg}" for p in scanned_files()
             for msg in problems(p.read_text(errors="replace"), p)]
    assert not found, "references that lead nowhere:\n" + "\n".join(found)


@pytest.mark.parametrize("text,expected", [
    ("as " + "DESIGN" ".md rule 5 says", "is not in the repository"),
    ("see " + "PROTOCOLS" ".md", "is not in the repository"),
    ("lecture 000_7ef49768bde1bafe" ".txt", "is not in the repository"),
    ("[notes](docs/nowhere.md)", "leads to no file"),
    ("[map](docs/architecture.md#no-such-heading)", "no heading with anchor"),
    ("written by benchmarks/no_such_script.py", "does not exist"),
    ("as nets/no_such_net.py builds it", "is not in src/gankit"),
    ('docs/protocols.md ("No such section")', "has no section"),
    ("docs/architecture.md rule 99", "rules"),
])
def test_a_reference_that_leads_nowhere_is_named(text, expected):
    found = problems(text, ROOT / "README.md")
    assert found and any(expected in msg for msg in found), found


def test_references_that_exist_pass():
    text = ("[map](docs/architecture.md#map), [protocols](docs/protocols.md#2-d-mixtures-modes--high-quality-mode-kl), "
            "docs/architecture.md rule 5, docs/architecture.md rules 1-2, docs/protocols.md (\"MNIST quality\"), "
            "nets/mlp.py, benchmarks/toy.py, tests/test_docs.py, models/NAME.py, benchmarks/out/x.json, "
            "Hung-yi Lee, GAN lecture (ATDL 14)")
    assert problems(text, ROOT / "README.md") == []
