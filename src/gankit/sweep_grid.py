"""The grid of ``gankit sweep`` and its planned runs: ``KEY=V1,V2`` axes, the cells of their product,
the seeds, and one :class:`Run` per (cell, seed) in a :class:`Sweep` (see :mod:`gankit.sweep`)."""

from __future__ import annotations

import hashlib
import itertools
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from gankit import config as config_mod
from gankit.errors import ConfigError

# Keys the sweep sets itself, with the option that sets them.
RESERVED = {"run.seed": "--seeds or --seed-list", "run.name": "-o/--out", "run.out_dir": "-o/--out",
            "run.threads": "--threads"}


def _under(key: str, prefixes: Sequence[str]) -> bool:
    return any(key == p or key.startswith(p + ".") for p in prefixes)


# ------------------------------------------------------------------------------------------------ grid


@dataclass(frozen=True)
class Axis:
    """One varied key and its values, as written on the command line."""

    key: str
    values: tuple[str, ...]


@dataclass(frozen=True)
class Cell:
    """One point of the grid: a value per axis, and the folder name that spells them."""

    params: tuple[tuple[str, str], ...]
    slug: str

    @property
    def overrides(self) -> list[str]:
        return [f"{k}={v}" for k, v in self.params]


def split_values(raw: str) -> list[str]:
    """``"a,b,[1,2]"`` -> ``["a", "b", "[1,2]"]``: commas split values except inside brackets or braces."""
    values, depth, start = [], 0, 0
    for i, ch in enumerate(raw):
        if ch in "[{":
            depth += 1
        elif ch in "]}":
            depth -= 1
            if depth < 0:
                break
        elif ch == "," and depth == 0:
            values.append(raw[start:i])
            start = i + 1
    if depth != 0:
        raise ConfigError(f"unbalanced brackets in '{raw}'; write a list value as [a,b]")
    values.append(raw[start:])
    return [v.strip() for v in values]


def parse_grid(items: Sequence[str]) -> tuple[list[str], list[Axis]]:
    """Split ``KEY=V1,V2`` arguments into fixed overrides (one value) and axes (several values).

    Raises:
        ConfigError: not ``key=value``, a key given twice, a key the sweep sets itself, an empty or
            repeated value.
    """
    fixed: list[str] = []
    axes: list[Axis] = []
    seen: set[str] = set()
    for item in items:
        if "=" not in item:
            raise ConfigError(f"'{item}' is not an override; write section.key=value or section.key=v1,v2 "
                              "(e.g. model.objective=mmgan,nsgan)")
        key, raw = item.split("=", 1)
        key = key.strip()
        config_mod.parse_override(f"{key}=")  # the key's syntax
        if key in RESERVED:
            raise ConfigError(f"{key} is set by the sweep; use {RESERVED[key]}")
        if key in seen:
            raise ConfigError(f"{key} is given twice; list all its values in one argument ({key}=v1,v2)")
        seen.add(key)
        values = split_values(raw)
        if len(values) == 1:
            fixed.append(f"{key}={values[0]}")
            continue
        if "" in values:
            raise ConfigError(f"{key} has an empty value in '{raw}'")
        if len(set(values)) != len(values):
            raise ConfigError(f"{key} lists a value twice in '{raw}'")
        axes.append(Axis(key, tuple(values)))
    return fixed, axes


def short_names(keys: Sequence[str]) -> dict[str, str]:
    """Each key's last part (``model.objective`` -> ``objective``), or the whole key where two would clash."""
    last = [k.rsplit(".", 1)[-1] for k in keys]
    return {k: (s if last.count(s) == 1 else k) for k, s in zip(keys, last)}


def _slug_value(value: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]+", "-", value).strip("-") or "empty"


def make_cells(axes: Sequence[Axis]) -> list[Cell]:
    """The Cartesian product of the axes, first axis slowest; without axes, one cell named 'base'."""
    short = short_names([a.key for a in axes])
    cells = []
    for combo in itertools.product(*(a.values for a in axes)):
        params = tuple((a.key, v) for a, v in zip(axes, combo))
        slug = ",".join(f"{short[k]}={_slug_value(v)}" for k, v in params) or "base"
        if len(slug) > 100:  # folder names have a length limit
            slug = slug[:80] + "-" + hashlib.sha1(slug.encode()).hexdigest()[:8]
        cells.append(Cell(params, slug))
    slugs = [c.slug for c in cells]
    for cell in cells:
        if slugs.count(cell.slug) > 1:
            raise ConfigError(f"two cells share the folder name '{cell.slug}'; use values that differ in "
                              "letters, digits or . _ + -")
    return cells


def parse_seeds(seeds: int | None = None, seed_list: str | None = None) -> list[int]:
    """``--seeds N`` (0..N-1; default 3) or ``--seed-list 3,7,11``."""
    if seed_list is not None:
        try:
            out = [int(s) for s in seed_list.split(",") if s.strip()]
        except ValueError:
            raise ConfigError(f"--seed-list must be integers separated by commas, got '{seed_list}'") from None
        if not out or min(out) < 0:
            raise ConfigError(f"--seed-list must list seeds >= 0, got '{seed_list}'")
        if len(set(out)) != len(out):
            raise ConfigError(f"--seed-list repeats a seed: '{seed_list}'")
        return out
    n = 3 if seeds is None else seeds
    if n < 1:
        raise ConfigError(f"--seeds must be >= 1, got {n}")
    return list(range(n))


# ------------------------------------------------------------------------------------------- the runs


@dataclass
class Run:
    """One (cell, seed): its folder, its overrides for ``gankit train``, its resolved config and status.

    ``status`` is done / partial / new when planned, and after running done / partial / failed / stopped.
    ``action`` says what this call did: skipped, trained, resumed (empty: not started).
    """

    cell: Cell
    seed: int
    root: Path
    overrides: list[str]
    cfg: Any
    status: str = "new"
    action: str = ""
    exit_code: int | None = None
    wall_s: float = 0.0

    @property
    def name(self) -> str:
        return f"{self.cell.slug}/seed-{self.seed}"

    @property
    def log(self) -> Path:
        return self.root.with_name(self.root.name + ".log")


@dataclass
class Sweep:
    """The planned sweep: what to train (``source``: a preset, or ``-c FILE``), where, and every run."""

    source: list[str]
    title: str
    out: Path
    fixed: list[str]
    axes: list[Axis]
    seeds: list[int]
    threads: int
    cells: list[Cell]
    runs: list[Run] = field(default_factory=list)

    def command(self, run: Run) -> list[str]:
        """The ``gankit train`` command line of a run: new, or ``--resume`` with the keys a resume may set."""
        train = [sys.executable, "-m", "gankit", "train"]
        if run.status == "partial":
            keep = [o for o in run.overrides if _under(o.split("=", 1)[0].strip(), config_mod.RESUMABLE)]
            return [*train, "--resume", str(run.root), *keep]
        return [*train, *self.source, *run.overrides]

    def describe(self) -> str:
        """The plan as text: one line per run with its status (``--dry-run``)."""
        counts = {s: sum(r.status == s for r in self.runs) for s in ("done", "partial", "new")}
        lines = [f"sweep {self.out}: {len(self.cells)} cells x {len(self.seeds)} seeds = {len(self.runs)} runs "
                 f"({counts['done']} done, {counts['partial']} partial, {counts['new']} new)"]
        if self.fixed:
            lines.append(f"fixed: {' '.join(self.fixed)}")
        width = max(len(r.name) for r in self.runs)
        lines += [f"  {r.status:<8} {r.name:<{width}}  {' '.join(r.cell.overrides + [f'run.seed={r.seed}'])}"
                  for r in self.runs]
        return "\n".join(lines)

