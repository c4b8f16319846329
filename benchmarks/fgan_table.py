"""Every row of the f-GAN table on ring8 and bimodal1d: modes, % HQ, KL in both directions over seeds.

    python benchmarks/fgan_table.py [--rows tv kl ...] [--data ring8 bimodal1d] [--seeds 3] [--saturating]
                                    [--steps ring8=2000 bimodal1d=1500] [--out FILE] [overrides ...]
    python benchmarks/fgan_table.py --report FILE [FILE ...]     # one table from several chunks' results

Each run is the data set's preset with ``model.objective=fgan-ROW`` (``--saturating``: fgan-ROW-saturating,
the game itself) and nothing else changed, so it trains with the row's own defaults (``objectives/fgan.py``:
learning rates per data set, the bound on the critic's output, the generator's form, regularisers);
``--steps`` shortens the presets' budgets. Chunks of the table (``--rows``/``--data``, each with its own
``--out``) merge with ``--report``.
Runs go one at a time, in this process, on one torch thread, figures and diagnostics off; a run that stops
on a non-finite loss is recorded as such. Scores (docs/protocols.md): ``modes`` and ``hq`` (3 std of a
mode mean), ``kl_data_model`` = KL(data ‖ model), the mode-covering direction, and ``kl_model_data`` =
KL(model ‖ data), the mode-seeking one (metric kl-js, a KDE of 2,500 samples), as mean ± s.e. over seeds.
Results: benchmarks/out/fgan-table.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gankit import api, config
from gankit.errors import GankitError
from gankit.objectives.fgan import DIVERGENCES
from gankit.train.stats import read_jsonl

OUT = Path(__file__).resolve().parent / "out"
KEYS = ("modes", "hq", "kl_data_model", "kl_model_data")
DEFAULT_STEPS = {"ring8": 2000, "bimodal1d": 1500}


def run_one(row: str, data: str, seed: int, steps: int, overrides: list[str], root: Path) -> dict:
    """One run of objective ``fgan-ROW`` (ROW: a key of the table, or KEY-saturating) on ``data``'s preset."""
    cfg = config.resolve(data, overrides=[
        f"model.objective=fgan-{row}", f"run.seed={seed}", f"train.steps={steps}", "run.threads=1",
        "train.sample_every=0", "train.diagnostics_every=0", "train.progress=false", f"train.checkpoint_every={steps}",
        "eval.metrics=[modes,kl-js]", f"run.out_dir={root}", f"run.name={data}-{row}-{seed}", *overrides])
    t0 = time.perf_counter()
    try:
        run = api.train(cfg, overwrite=True)
    except GankitError as exc:  # a non-finite loss stops the run with one line
        return {"row": row, "data": data, "seed": seed, "error": str(exc)[:200], "s": time.perf_counter() - t0}
    m = read_jsonl(run.metrics)[-1]
    return {"row": row, "data": data, "seed": seed, **{k: m[k] for k in KEYS}, "s": time.perf_counter() - t0,
            "lr_g": cfg.g_optim.lr, "lr_d": cfg.d_optim.lr}


def mean_se(values: list[float]) -> str:
    v = np.asarray(values, dtype=float)
    if len(v) == 0:
        return "—"
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else 0.0
    return f"{v.mean():.2f} ± {se:.2f}"


def table(runs: list[dict]) -> list[str]:
    """The Markdown table of ``runs``: one line per (row, data) in the order met, mean ± s.e. over seeds."""
    lines = ["| row | data | trained | modes | % HQ | KL(data‖model) | KL(model‖data) |", "|" + "---|" * 7]
    for row, data in dict.fromkeys((r["row"], r["data"]) for r in runs):
        rs = [r for r in runs if r["row"] == row and r["data"] == data]
        ok = [r for r in rs if "error" not in r]
        cells = " | ".join(mean_se([r[k] for r in ok]) for k in KEYS)
        lines.append(f"| {row} | {data} | {len(ok)}/{len(rs)} | {cells} |")
    return lines


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", nargs="+", default=list(DIVERGENCES), choices=list(DIVERGENCES))
    ap.add_argument("--data", nargs="+", default=list(DEFAULT_STEPS), choices=list(DEFAULT_STEPS))
    ap.add_argument("--saturating", action="store_true",
                    help="the rows' saturating objectives fgan-KEY-saturating (G descends D_f itself)")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--steps", nargs="*", default=[], help="DATA=STEPS, e.g. ring8=2000")
    ap.add_argument("--out", type=Path, default=OUT / "fgan-table.json")
    ap.add_argument("--report", nargs="+", type=Path, default=[], metavar="FILE",
                    help="train nothing: print one table from the runs of these result files (chunks of the table)")
    ap.add_argument("overrides", nargs="*", help="config overrides applied to every run (after the row's defaults)")
    args = ap.parse_args(argv)
    if args.report:
        try:
            runs = [r for f in args.report for r in json.loads(f.read_text())["runs"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            ap.error(f"--report reads result files this script wrote: {exc}")
        print("\n".join(table(runs)))
        return 0
    steps = dict(DEFAULT_STEPS)
    for item in args.steps:
        name, _, n = item.partition("=")
        if name not in steps or not n.isdigit():
            ap.error(f"--steps takes DATA=STEPS with DATA in {sorted(steps)}, not '{item}'")
        steps[name] = int(n)
    torch.set_num_threads(1)
    rows: list[dict] = []
    with tempfile.TemporaryDirectory(prefix="gankit-fgan-") as tmp:
        for key in args.rows:
            row = f"{key}-saturating" if args.saturating else key
            for data in args.data:
                for seed in range(args.seeds):
                    r = run_one(row, data, seed, steps[data], args.overrides, Path(tmp))
                    rows.append(r)
                    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in r.items()}),
                          flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"steps": steps, "seeds": args.seeds, "overrides": args.overrides,
                                    "runs": rows}, indent=1) + "\n")
    print()
    print("\n".join(table(rows)))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
