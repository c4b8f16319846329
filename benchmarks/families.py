"""Families at a glance: every image preset README.md trains, under its default budget, scored by its family's
own measure and by classifier FID/IS beside the real-vs-real floor (issue 14, item 5).

    python benchmarks/families.py                        # every preset, 3 seeds, default budgets: hours
    python benchmarks/families.py --only dcgan-mnist cgan-mnist --seeds 1
    python benchmarks/families.py --minutes 0.2 --samples 300 --only dcgan-digits vae-digits   # a smoke run
    python benchmarks/families.py --table                # the table of the saved results, nothing trained

Each (preset, seed) run is ``gankit train PRESET`` as a user gets it (``api.train`` with the preset's own
callbacks: sample grids, periodic and final evaluation), with three changes: ``run.seed``, the run folder,
and ``eval.metrics`` set to the family's measure plus classifier FID and IS (those that apply to the data
set; the end-of-training evaluation then IS the table's scoring, with its real-vs-real floor: the same number
of held-out real images scored the same way). ``--minutes M`` caps ``train.time_limit`` (a smoke run or a
shorter budget; results are kept apart from the default budget's); ``--samples N`` replaces
``eval.num_samples``; ``--threads N`` sets ``run.threads`` (0: torch's default, as ``gankit train``).

The family measures (metrics registered in gankit.metrics): DCGAN and self-conditioned GAN: precision and
recall of the classifier features (Kynkäänniemi 2019); LAPGAN: each pyramid level's FID (``level-fid``);
conditional GAN and LAPGAN: how often the classifier reads the class asked for (``conditional-accuracy``, MNIST
only: cgan-digits gets precision and recall);
Stacked MNIST: modes covered of 1,000 and KL to uniform; StackGAN: caption match on seen and held-out
combinations (``caption-match``); pix2pix: the task read from held-out translations and their L1 to the
target (``paired-task``, ``paired-l1``); VAE and AAE: held-out codes against the prior (``code-prior``: MMD²
and W1).

Before training, a probe (a few seconds of each preset still to run, through the same trainer, then a
small evaluation of the table's metrics: a metric that cannot score a preset fails here, not after its
run) measures steps/s and scoring speed, and the script prints the expected total duration; then a line
per finished run with its expected and actual time. Results are resumable: each run's JSON is written when
it finishes and a rerun skips the runs whose JSON exists (``--force``: rerun them). The 1-minute load
average before and after each run is recorded beside it.

Results: benchmarks/out/families/<budget>/<preset>-s<seed>.json per run and the table (mean ± standard
error over seeds) in benchmarks/out/families[-<budget>].json and .md, also printed. Only an idle machine's
numbers belong in BENCHMARKS.md (``../shared/tools/measure-idle`` in front of the command). MNIST must be
cached (``gankit data get mnist``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gankit import api, config
from gankit import metrics as metrics_mod
from gankit.data import build_dataset
from gankit.train.callbacks import Callback
from gankit.train.progress import duration
from gankit.train.stats import read_jsonl
from toy import mean_se  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

OUT = Path(__file__).resolve().parent / "out"
QUALITY = ("fid", "inception-score")  # beside every family's own measure, where the data set's classifier has them
PROBE_SAMPLES = 300  # the probe's evaluation: samples scored (its seconds are scaled to the run's count)


@dataclass(frozen=True)
class Family:
    """A family's name, the metrics that measure what it is for, and the keys of theirs the table shows."""

    name: str
    metrics: tuple[str, ...]
    keys: tuple[tuple[str, str], ...]  # (metric key, label)


DCGAN = Family("DCGAN", ("precision-recall",), (("recall", "recall"), ("precision", "precision")))
SELFCOND = Family("self-conditioned GAN", ("precision-recall",), (("recall", "recall"), ("precision", "precision")))
LAPGAN = Family("LAPGAN", ("level-fid",), (("level2_fid", "coarsest-level FID"), ("level1_fid", "middle-level FID")))
CLAPGAN = Family("class-conditional LAPGAN", ("conditional-accuracy", "level-fid"),
                 (("class_accuracy", "class accuracy"), ("level2_fid", "coarsest-level FID")))
STACKED = Family("Stacked MNIST", ("stacked-mnist-modes",), (("modes", "modes of 1,000"), ("mode_kl", "KL to uniform")))
CGAN = Family("conditional GAN", ("conditional-accuracy",), (("class_accuracy", "class accuracy"),))
# conditional-accuracy reads MNIST only (the 8x8-digits classifier is not registered as a class reader)
CGAN_DIGITS = Family("conditional GAN (8x8: no class reader)", ("precision-recall",),
                     (("recall", "recall"), ("precision", "precision")))
STACKGAN = Family("StackGAN", ("caption-match",),
                  (("caption_match", "caption match, seen"), ("caption_match_held_out", "caption match, held-out")))
PIX2PIX = Family("pix2pix", ("paired-task", "paired-l1"), (("task", "task read right"), ("l1", "L1 to target")))
VAE = Family("VAE", ("code-prior",), (("code_mmd2", "code-prior MMD²"), ("code_w1", "code-prior W1")))
AAE = Family("AAE", ("code-prior",), (("code_mmd2", "code-prior MMD²"), ("code_w1", "code-prior W1")))

# the image presets README.md's commands train (or sample from: dcgan-shapes), in its order; dcgan-folder
# needs the user's own images and is left out
PRESETS: dict[str, Family] = {
    "dcgan-digits": DCGAN, "dcgan-mnist": DCGAN, "dcgan-shapes": DCGAN,
    "lapgan-mnist": LAPGAN, "clapgan-mnist": CLAPGAN,
    "stacked-mnist-dcgan": STACKED, "stacked-mnist-wgan-gp": STACKED,
    "cgan-digits": CGAN_DIGITS, "cgan-mnist": CGAN, "selfcond-mnist": SELFCOND,
    "stackgan-shapes": STACKGAN,
    "pix2pix-shapes": PIX2PIX, "pix2pix-edges2digits": PIX2PIX, "pix2pix-masks": PIX2PIX,
    "vae-digits": VAE, "aae-digits": AAE, "aae-mnist": AAE, "aae-mnist-8d": AAE, "vae-mnist-8d": VAE,
    "vae-mnist": VAE,
}


def budget_tag(minutes: float, samples: int) -> str:
    """The folder a budget's results live in: "default", or the caps it was run under ("0.2min-n300")."""
    parts = ([f"{minutes:g}min"] if minutes > 0 else []) + ([f"n{samples}"] if samples > 0 else [])
    return "-".join(parts) or "default"


def result_path(out: Path, tag: str, preset: str, seed: int) -> Path:
    return out / "families" / tag / f"{preset}-s{seed}.json"


def pending(out: Path, tag: str, presets: list[str], seeds: int, force: bool) -> list[tuple[str, int]]:
    """The (preset, seed) runs still to do, seed-major (a partial benchmark has every preset's first seed)."""
    return [(p, s) for s in range(seeds) for p in presets
            if force or not result_path(out, tag, p, s).is_file()]


def overrides_for(preset: str, seed: int, args: argparse.Namespace, metrics: list[str], root: Path) -> list[str]:
    """The run's overrides: the preset's default budget and callbacks, the table's metrics, the caps asked for."""
    cfg = config.resolve(preset)
    out = [f"run.seed={seed}", f"run.out_dir={root}", f"run.name={preset}-s{seed}", "train.progress=false",
           f"eval.metrics=[{','.join(metrics)}]", "eval.floor=true"]
    if args.threads:
        out.append(f"run.threads={args.threads}")
    if args.minutes > 0:
        limit = cfg.train.time_limit
        out.append(f"train.time_limit={min(limit, args.minutes) if limit else args.minutes:g}")
    if args.samples > 0:
        out.append(f"eval.num_samples={args.samples}")
    return out


def table_metrics(preset: str) -> list[str]:
    """The family's metrics and those of classifier FID and IS that apply to the preset's data set."""
    ok = metrics_mod.applicable(build_dataset(config.resolve(preset).data))
    return [*PRESETS[preset].metrics, *(m for m in QUALITY if m in ok)]


def budget_text(cfg: Any) -> str:
    limit = cfg.train.time_limit
    return f"{cfg.train.steps:,} steps" + (f" / {limit:g} min" if limit else "")


class _StopAfter(Callback):
    """Times the steps after the first and ends the run once ``seconds`` of them have passed."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.first: tuple[int, float] | None = None
        self.last: tuple[int, float] | None = None
        self.begin = time.perf_counter()
        self.startup = 0.0

    def on_step(self, trainer: Any, step: int) -> None:
        now = time.perf_counter()
        if self.first is None:
            self.first, self.startup = (step, now), now - self.begin
            return
        self.last = (step, now)
        if now - self.first[1] >= self.seconds:
            trainer.request_finish()

    def rate(self) -> float:
        if self.first is None or self.last is None or self.last[0] <= self.first[0]:
            return 0.0
        return (self.last[0] - self.first[0]) / (self.last[1] - self.first[1])


def probe(preset: str, args: argparse.Namespace, metrics: list[str], tmp: Path) -> dict[str, float]:
    """A few seconds of the preset through the trainer and a small evaluation of the table's metrics: its
    steps/s, start-up seconds and scoring seconds per sample (with the floor)."""
    cfg = config.resolve(preset, overrides=[
        *overrides_for(preset, 0, args, metrics, tmp), "train.steps=100000000", "train.time_limit=0",
        "train.checkpoint_every=100000000", f"run.name=probe-{preset}"])
    clock = _StopAfter(args.probe_seconds)
    run = api.train(cfg, overwrite=True, callbacks=[clock])
    n = min(PROBE_SAMPLES, args.samples or PROBE_SAMPLES)
    t = time.perf_counter()
    api.evaluate(run.root, n=n, metrics=metrics, floor=True, write=False)
    score_s = (time.perf_counter() - t) / n
    shutil.rmtree(run.root, ignore_errors=True)
    return {"rate": clock.rate(), "startup": clock.startup, "score_s_per_sample": score_s}


def expected_seconds(cfg: Any, measured: dict[str, float]) -> float:
    """Start-up + training (train.steps at the probe's steps/s, or train.time_limit if sooner) + every
    evaluation (the periodic ones without, the final one with its floor: twice the samples scored)."""
    rate = measured["rate"] or 1.0
    train_s = cfg.train.steps / rate
    if cfg.train.time_limit:
        train_s = min(train_s, 60.0 * cfg.train.time_limit)
    steps = min(cfg.train.steps, int(train_s * rate))
    periodic = (steps - 1) // cfg.train.eval_every if cfg.train.eval_every else 0
    per_eval = measured["score_s_per_sample"] * cfg.eval.num_samples  # the probe's evaluation included its floor
    return measured["startup"] + train_s + per_eval * (1 + periodic / 2)


def final_record(metrics_jsonl: Path) -> dict[str, Any]:
    """The end-of-training evaluation of a run: the last metrics.jsonl record training wrote (no "source")."""
    records = [r for r in read_jsonl(metrics_jsonl) if "source" not in r]
    if not records:
        raise RuntimeError(f"{metrics_jsonl} has no end-of-training evaluation")
    return records[-1]


def train_and_score(preset: str, seed: int, args: argparse.Namespace, metrics: list[str], tag: str) -> dict[str, Any]:
    """One default run of ``preset`` under ``seed``; its result record (also written to its JSON)."""
    cfg = config.resolve(preset, overrides=overrides_for(preset, seed, args, metrics, args.out / "families" / tag /
                                                         "runs"))
    load_before = os.getloadavg()[0]
    t = time.perf_counter()
    run = api.train(cfg, overwrite=True)
    wall = time.perf_counter() - t
    load_after = os.getloadavg()[0]
    stats = read_jsonl(run.stats)
    final = final_record(run.metrics)
    floor = final.pop("floor", None) or {}
    result = {"preset": preset, "family": PRESETS[preset].name, "seed": seed, "budget": budget_text(cfg),
              "default_steps": cfg.train.steps, "time_limit": cfg.train.time_limit, "steps": int(final["step"]),
              "train_seconds": float(stats[-1]["time"]) if stats else 0.0, "wall_seconds": round(wall, 1),
              "samples": cfg.eval.num_samples, "threads": args.threads, "metrics_named": metrics,
              "metrics": {k: v for k, v in final.items() if isinstance(v, (int, float)) and k != "step"},
              "floor_kind": floor.pop("kind", ""), "floor": floor,
              "load_before": round(load_before, 2), "load_after": round(load_after, 2),
              "torch": torch.__version__, "command": args.command}
    path = result_path(args.out, tag, preset, seed)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=1) + "\n")
    return result


# ------------------------------------------------------------------------------------------------------
# the table


def _value(metrics: dict[str, float], key: str) -> float | None:
    """A metric's value, also under the random embedding's prefix (data sets without a classifier)."""
    v = metrics.get(key, metrics.get(f"rand_{key}"))
    return None if v is None else float(v)


def _num(x: float, digits: int) -> str:
    return f"{x:,.0f}" if abs(x) >= 10 ** digits else f"{x:.{digits}g}"  # 1,673 rather than 1.67e+03


def _fmt(values: list[float], digits: int = 3) -> str:
    if not values:
        return "–"
    m, se = mean_se(values)
    return _num(m, digits) + (f" ± {_num(se, 2)}" if len(values) > 1 else "")


def summarise(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per preset (in PRESETS order) over its seeds: mean ± s.e. of every number the table shows."""
    rows = []
    for preset in [p for p in PRESETS if any(r["preset"] == p for r in results)]:
        runs = sorted((r for r in results if r["preset"] == preset), key=lambda r: r["seed"])
        fam = PRESETS[preset]
        measure = []
        for key, label in fam.keys:
            vals = [v for r in runs if (v := _value(r["metrics"], key)) is not None]
            measure.append(f"{label} {_fmt(vals)}")
        prefix = "rand_" if any("rand_fid" in r["metrics"] for r in runs) else ""

        def cell(where: str, key: str, runs: list[dict[str, Any]] = runs) -> str:
            return _fmt([v for r in runs if (v := _value(r[where], key)) is not None])

        rows.append({
            "preset": preset, "family": fam.name, "budget": runs[0]["budget"], "seeds": len(runs),
            "steps": _fmt([r["steps"] for r in runs], 6), "wall_min": _fmt([r["wall_seconds"] / 60 for r in runs], 2),
            "measure": "; ".join(measure), "fid": cell("metrics", "fid"), "is": cell("metrics", "is"),
            "floor": f"{cell('floor', 'fid')} / {cell('floor', 'is')}",
            "extractor": "random embedding" if prefix else "classifier",
            "load": f"{max(r['load_before'] for r in runs):.2f} / {max(r['load_after'] for r in runs):.2f}",
        })
    return rows


COLUMNS = (("preset", "preset"), ("budget", "budget (steps / time limit)"), ("seeds", "seeds"),
           ("steps", "steps reached"), ("wall_min", "wall time (min)"), ("measure", "family measure"), ("fid", "FID"),
           ("is", "IS"), ("floor", "floor FID / IS"), ("load", "load before / after (max)"))


def table(rows: list[dict[str, Any]]) -> str:
    """The Markdown table of :func:`summarise`'s rows; a row scored on the random embedding says so."""
    lines = ["| " + " | ".join(h for _, h in COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        cells = [str(row[k]) for k, _ in COLUMNS]
        if row["extractor"] != "classifier":
            cells[COLUMNS.index(("fid", "FID"))] += " (random embedding)"
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def load_results(out: Path, tag: str) -> list[dict[str, Any]]:
    folder = out / "families" / tag
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*-s*.json"))] if folder.is_dir() else []


def write_table(out: Path, tag: str) -> str:
    """Summarise the saved results of a budget into families[-TAG].json and .md; the Markdown text, headed by
    the commands that made the results."""
    results = load_results(out, tag)
    rows = summarise(results)
    commands = list(dict.fromkeys(r["command"] for r in results))
    name = "families" if tag == "default" else f"families-{tag}"
    text = ("\n".join(f"`{c}`" for c in commands) + f"\n\n{tag} budget: mean ± s.e. over seeds\n\n{table(rows)}\n")
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps({"commands": commands, "rows": rows, "runs": results}, indent=1)
                                      + "\n")
    (out / f"{name}.md").write_text(text)
    return text


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(PRESETS), metavar="PRESET", help="presets (default: all)")
    ap.add_argument("--seeds", type=int, default=3, help="run.seed 0 .. N-1 per preset")
    ap.add_argument("--minutes", type=float, default=0.0, help="cap train.time_limit at M minutes (0: the default)")
    ap.add_argument("--samples", type=int, default=0, help="eval.num_samples instead of the preset's (0: its own)")
    ap.add_argument("--threads", type=int, default=0, help="run.threads (0: torch's default, as gankit train)")
    ap.add_argument("--probe-seconds", type=float, default=5.0, help="seconds of training timed per preset first")
    ap.add_argument("--force", action="store_true", help="rerun runs whose results exist")
    ap.add_argument("--table", action="store_true", help="only write and print the table of the saved results")
    ap.add_argument("--out", type=Path, default=OUT, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    tag = budget_tag(args.minutes, args.samples)
    args.command = "python benchmarks/families.py " + " ".join(sys.argv[1:] if argv is None else argv)
    presets = args.only or list(PRESETS)
    todo = [] if args.table else pending(args.out, tag, presets, args.seeds, args.force)
    if todo:
        metrics = {p: table_metrics(p) for p in dict.fromkeys(p for p, _ in todo)}
        expected: dict[str, float] = {}
        with tempfile.TemporaryDirectory(prefix="families-probe-") as tmp:
            for p in metrics:
                m = probe(p, args, metrics[p], Path(tmp))
                cfg = config.resolve(p, overrides=overrides_for(p, 0, args, metrics[p], Path(tmp)))
                expected[p] = expected_seconds(cfg, m)
                print(f"probe {p}: {m['rate']:.3g} steps/s, {budget_text(cfg)} -> about {duration(expected[p])} "
                      f"a run ({', '.join(metrics[p])})", flush=True)
        total = sum(expected[p] for p, _ in todo)
        print(f"{len(todo)} runs to do ({tag} budget, {args.seeds} seed(s)); expected about {duration(total)} "
              f"in all (skipped: {len(presets) * args.seeds - len(todo)} with results)", flush=True)
        begin, spent, planned = time.monotonic(), 0.0, 0.0
        for i, (p, seed) in enumerate(todo, 1):
            r = train_and_score(p, seed, args, metrics[p], tag)
            spent, planned = spent + r["wall_seconds"], planned + expected[p]
            left = sum(expected[q] for q, _ in todo[i:]) * spent / planned
            quality = ", ".join(f"{k} {v:.4g}" for k in ("fid", "is") if (v := _value(r["metrics"], k)) is not None)
            measure = ", ".join(f"{label} {v:.4g}" for key, label in PRESETS[p].keys
                                if (v := _value(r["metrics"], key)) is not None)
            print(f"[{i}/{len(todo)}, {duration(time.monotonic() - begin)}] {p} seed {seed}: {r['steps']} steps in "
                  f"{duration(r['wall_seconds'])} (expected {duration(expected[p])}); {measure}; {quality}; "
                  f"load {r['load_before']} -> {r['load_after']}; about {duration(left)} left", flush=True)
    print("\n" + write_table(args.out, tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
