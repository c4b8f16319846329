"""The results of ``gankit sweep``: each run's final metrics, mean ± standard error over seeds per cell,
and the files that show them (runs.csv, summary.md/.csv/.json/.png; see :mod:`gankit.sweep`)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.fileio import atomic_write_text
from gankit.sweep_grid import Cell, Sweep, short_names
from gankit.train.rundir import RunDir
from gankit.train.stats import read_jsonl

NOT_METRICS = ("step", "ema", "samples")
DASH = "–"  # a missing standard error (one seed) or value


def final_metrics(root: Path) -> dict[str, Any] | None:
    """The last metrics line training wrote (not one of ``gankit eval``'s), or None."""
    records = [r for r in read_jsonl(RunDir(root).metrics) if "source" not in r]
    return records[-1] if records else None


# ----------------------------------------------------------------------------------------- aggregation


def mean_se(values: Sequence[float | None]) -> tuple[float, float, int]:
    """(mean, standard error, n) of the finite values; standard error = std (ddof 1) / sqrt(n), NaN for n < 2."""
    xs = [float(v) for v in values if v is not None and math.isfinite(float(v))]
    n = len(xs)
    if n == 0:
        return math.nan, math.nan, 0
    mean = math.fsum(xs) / n
    if n < 2:
        return mean, math.nan, n
    var = math.fsum((x - mean) ** 2 for x in xs) / (n - 1)
    return mean, math.sqrt(var / n), n


def metric_values(record: dict[str, Any]) -> dict[str, float]:
    """The numeric metrics of a metrics.jsonl line (no step/ema, booleans, nested dicts; None kept as NaN)."""
    return {k: (math.nan if v is None else float(v)) for k, v in record.items()
            if k not in NOT_METRICS and (v is None or isinstance(v, (int, float)) and not isinstance(v, bool))}


def summary_metrics(names: Sequence[str]) -> list[str]:
    """The metric names worth a column: ``fid`` but not ``fid_low``/``fid_high``/``fid_n`` (their
    interval and count keys, :data:`gankit.metrics.keys.SUFFIXES`: kept in runs.csv, left out of the summary)."""
    from gankit.metrics.keys import SUFFIXES  # here, not at import: the metrics package imports torch

    return [k for k in names if not any(k.endswith(s) and k[: -len(s)] in names for s in SUFFIXES)]


@dataclass
class Summary:
    """Per cell, per metric: the seeds' values (runs not done are left out)."""

    keys: list[str]  # the varied keys (the table's first columns)
    cells: list[Cell]
    metrics: list[str]
    values: dict[str, dict[str, dict[int, float]]]  # cell slug -> metric -> seed -> value

    def stats(self, cell: Cell, metric: str) -> tuple[float, float, int]:
        return mean_se(list(self.values[cell.slug].get(metric, {}).values()))

    def labels(self) -> list[str]:
        short = short_names(self.keys)
        return [", ".join(f"{short[k]}={v}" for k, v in c.params) or c.slug for c in self.cells]


def aggregate(sweep: Sweep) -> Summary:
    values: dict[str, dict[str, dict[int, float]]] = {c.slug: {} for c in sweep.cells}
    names: list[str] = []
    for run in sweep.runs:
        if run.status != "done":
            continue
        for k, v in metric_values(final_metrics(run.root) or {}).items():
            values[run.cell.slug].setdefault(k, {})[run.seed] = v
            if k not in names:
                names.append(k)
    return Summary([a.key for a in sweep.axes], sweep.cells, summary_metrics(names), values)


def _fmt(mean: float, se: float, n: int) -> str:
    if n == 0:
        return DASH
    return f"{mean:.4g} ± {DASH if n < 2 else f'{se:.2g}'}"


def markdown_table(summary: Summary) -> str:
    """One row per cell: the varied values, n, then ``mean ± se`` per metric."""
    keys = summary.keys or ["cell"]
    header = [*keys, "n", *(f"{m} mean ± se" for m in summary.metrics)]
    rows = []
    for cell in summary.cells:
        params = [v for _, v in cell.params] or [cell.slug]
        stats = [summary.stats(cell, m) for m in summary.metrics]
        n = max((s[2] for s in stats), default=0)
        rows.append([*params, str(n), *(_fmt(*s) for s in stats)])
    lines = ["| " + " | ".join(r) + " |" for r in [header, *rows]]
    lines.insert(1, "|" + "|".join("---" for _ in header) + "|")
    return "\n".join(lines)


def _csv_text(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(header)
    w.writerows(rows)
    return buf.getvalue()


def _num(v: float | None) -> str:
    return "" if v is None or not math.isfinite(v) else repr(float(v))


def _json_num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def write_summary(sweep: Sweep, summary: Summary) -> dict[str, Path]:
    """summary.md, summary.csv, summary.json and summary.png in the sweep's folder; returns their paths."""
    out = sweep.out
    paths = {ext: out / f"summary.{ext}" for ext in ("md", "csv", "json", "png")}
    seeds = sweep.seeds
    done = sum(r.status == "done" for r in sweep.runs)
    intro = (f"# Sweep {out.name}\n\n{' '.join(sweep.source)}"
             + (f" with {' '.join(sweep.fixed)}" if sweep.fixed else "")
             + f"; seeds {', '.join(map(str, seeds))}; {done} of {len(sweep.runs)} runs done.\n"
             f"Each entry: mean ± standard error over seeds (std with ddof 1 / sqrt(n)); {DASH}: one run.\n\n")
    atomic_write_text(paths["md"], intro + markdown_table(summary) + "\n")

    rows, cells_json = [], []
    for cell in summary.cells:
        entry: dict[str, Any] = {"cell": cell.slug, "params": dict(cell.params), "metrics": {}}
        for m in summary.metrics:
            mean, se, n = summary.stats(cell, m)
            per_seed = summary.values[cell.slug].get(m, {})
            rows.append([*(v for _, v in cell.params), m, _num(mean), _num(se), n,
                         *(_num(per_seed.get(s)) for s in seeds)])
            entry["metrics"][m] = {"mean": _json_num(mean), "se": _json_num(se), "n": n,
                                   "values": {str(s): _json_num(v) for s, v in per_seed.items()}}
        cells_json.append(entry)
    header = [*summary.keys, "metric", "mean", "se", "n", *(f"seed_{s}" for s in seeds)]
    atomic_write_text(paths["csv"], _csv_text(header, rows))
    atomic_write_text(paths["json"], json.dumps({
        "sweep": str(out), "source": sweep.source, "fixed": sweep.fixed,
        "axes": {a.key: list(a.values) for a in sweep.axes},
        "seeds": seeds, "runs": len(sweep.runs), "done": done, "metrics": summary.metrics, "cells": cells_json,
    }, indent=1) + "\n")

    from gankit.viz.sweep import plot_sweep

    per_metric = {m: [(*summary.stats(c, m)[:2], list(summary.values[c.slug].get(m, {}).values()))
                      for c in summary.cells]
                  for m in summary.metrics}
    plot_sweep(summary.labels(), per_metric, paths["png"],
               title=f"{out.name}: mean ± standard error over {len(seeds)} seeds (dots: seeds)")
    return paths


def _previous_wall(out: Path) -> dict[str, float]:
    """Wall seconds per run from an earlier call's runs.csv (a resumed run adds to them)."""
    path = out / "runs.csv"
    if not path.is_file():
        return {}
    try:
        with path.open(encoding="utf-8", newline="") as f:
            return {row["run"]: float(row["wall_s"] or 0) for row in csv.DictReader(f)}
    except (OSError, KeyError, ValueError, csv.Error):
        return {}


def write_runs(sweep: Sweep) -> Path:
    """runs.csv: every run with its status, what this call did, exit code, wall seconds and final metrics."""
    names: list[str] = []
    finals = {}
    for run in sweep.runs:
        finals[run.name] = metric_values(final_metrics(run.root) or {}) if run.root.exists() else {}
        names += [k for k in finals[run.name] if k not in names]
    header = [*(a.key for a in sweep.axes), "seed", "status", "action", "exit", "wall_s", "run", *names]
    rows = [[*(v for _, v in r.cell.params), r.seed, r.status, r.action, "" if r.exit_code is None else r.exit_code,
             f"{r.wall_s:.1f}", r.name, *(_num(finals[r.name].get(k)) for k in names)] for r in sweep.runs]
    path = sweep.out / "runs.csv"
    atomic_write_text(path, _csv_text(header, rows))
    return path

