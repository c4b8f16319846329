"""LAPGAN against DCGAN on MNIST at equal wall time: classifier FID and IS, and each pyramid level's FID.

    python benchmarks/lapgan.py --minutes 10 20 --seeds 3                      # both presets, one after the other
    python benchmarks/lapgan.py --preset lapgan-mnist --minutes 10 20 --seeds 3  # one preset (run two in parallel)
    python benchmarks/lapgan.py --table                                        # the Markdown table of what is saved
    python benchmarks/lapgan.py --minutes 0.05 --seeds 1 --samples 200         # smoke run

Each (preset, seed) run trains the preset as shipped (EMA of G included, ``run.seed`` = the seed) with
one torch thread through gankit's Trainer; a callback copies the sampling generator when the training
clock passes each mark (benchmarks/image_quality.py's Marks) and ends the run at the last one. Every
snapshot is scored on ``--samples`` generated digits against as many training digits with the shipped
MNIST classifier, exactly as ``gankit eval`` does: classifier FID and IS, and ``level-fid``
(gankit.metrics.pyramid: the FID and coverage of each Gaussian-pyramid level, 28, 14 and 7 px, against
the real pyramid; a collapsed coarse level shows there). The real-vs-real floor (test digits against the
same training digits) is scored the same way. The table gives mean ± standard error over the seeds.

Results: benchmarks/out/lapgan-<preset>-s<seed>.json, a sample grid per snapshot, and for LAPGAN the
stages figure of the last seed. MNIST must be cached (``gankit data get mnist``; GANKIT_DATA). The machine
may be shared: say so when recording the numbers.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gankit import api, config
from gankit.data import build_dataset
from gankit.data.reference import reference_sample
from gankit.metrics import evaluate
from gankit.viz import save_image_grid
from image_quality import Marks  # benchmarks/ is on sys.path when this script runs

OUT = Path(__file__).resolve().parent / "out"
PRESETS = ["lapgan-mnist", "dcgan-mnist"]
METRICS = ["fid", "inception-score", "level-fid"]
COLUMNS = [("fid", "classifier FID"), ("is", "classifier IS"), ("level2_fid", "7 px level FID"),
           ("level1_fid", "14 px level FID"), ("level2_coverage", "7 px coverage")]


def run(preset: str, seed: int, minutes: list[float], samples: int, overrides: list[str]) -> Path:
    """Train ``preset`` under ``seed`` for max(minutes), score every snapshot; the JSON's path."""
    cfg = config.resolve(preset, overrides=[
        *overrides, f"run.out_dir={OUT / 'runs'}", f"run.name=lapgan-bench-{preset}-s{seed}", f"run.seed={seed}",
        "train.steps=100000000", "train.eval_every=0", "train.progress=false", "train.diagnostics_every=0",
        "run.threads=1", "train.checkpoint_every=100000000",
    ])
    marks = Marks(minutes)
    print(f"training {preset} (seed {seed}) for {max(minutes)} min, 1 thread", flush=True)
    t0 = time.perf_counter()
    api.train(cfg, overwrite=True, callbacks=[marks])
    wall = time.perf_counter() - t0
    rd = api.run_dir_for(cfg)
    net, _, _ = api.load_generator(rd.root)
    dataset = build_dataset(cfg.data)
    real = reference_sample(dataset, samples, cfg.eval.seed + 3)
    other, floor_kind = api.held_out_reference(cfg, dataset, samples)
    floor = evaluate(METRICS, other, real, dataset)
    results = []
    for snap in marks.snapshots:
        net.load_state_dict(snap["state"])
        fake = api.sample_net(net, samples, seed=cfg.eval.seed + 2)
        values = evaluate(METRICS, fake, real, dataset)
        grid = OUT / f"lapgan-{preset}-s{seed}-{snap['minutes']:g}min.png"
        save_image_grid(fake[:64], grid)
        results.append({k: v for k, v in snap.items() if k not in ("state", "d_state")}
                       | {"metrics": values, "grid": grid.name})
        print(f"  {snap['minutes']:g} min (step {snap['step']}): "
              + ", ".join(f"{k} {values[k]:.4g}" for k, _ in COLUMNS if k in values), flush=True)
    if hasattr(net, "stages"):
        from gankit.viz.stages import plot_stages

        plot_stages(api.stages(rd.root, 8), OUT / "lapgan-stages.png", title=f"{preset}: coarse-to-fine sampling")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"lapgan-{preset}-s{seed}.json"
    out.write_text(json.dumps({"preset": preset, "seed": seed, "overrides": overrides, "samples": samples,
                               "threads": 1, "wall_seconds": round(wall, 1),
                               "generator_parameters": sum(p.numel() for p in net.parameters()),
                               "floor_kind": floor_kind, "floor": floor, "snapshots": results,
                               "torch": torch.__version__}, indent=2) + "\n")
    print(f"wrote {out}")
    return out


def _mean_se(values: list[float]) -> str:
    if not values:
        return "-"
    a = np.asarray(values, dtype=float)
    se = a.std(ddof=1) / np.sqrt(len(a)) if len(a) > 1 else 0.0
    return f"{a.mean():.4g} ± {se:.2g}" if len(a) > 1 else f"{a.mean():.4g}"


def table(presets: list[str]) -> str:
    """Mean ± s.e. over the saved seeds, per preset and minutes mark, with the real-vs-real floor."""
    head = "| preset | minutes | seeds | steps | " + " | ".join(name for _, name in COLUMNS) + " |"
    rows = [head, "|---|---|---|---|" + "---|" * len(COLUMNS)]
    floor = None
    for preset in presets:
        files = sorted(OUT.glob(f"lapgan-{preset}-s*.json"))
        runs = [json.loads(f.read_text()) for f in files]
        if not runs:
            continue
        floor = runs[0]["floor"]
        marks = sorted({s["minutes"] for r in runs for s in r["snapshots"]})
        for m in marks:
            snaps = [s for r in runs for s in r["snapshots"] if s["minutes"] == m]
            steps = _mean_se([s["step"] for s in snaps]).split(" ")[0]
            cells = [_mean_se([s["metrics"][k] for s in snaps if k in s["metrics"]]) for k, _ in COLUMNS]
            rows.append(f"| {preset} | {m:g} | {len(snaps)} | {steps} | " + " | ".join(cells) + " |")
    if floor is not None:
        rows.append("| real vs real (test vs train) | - | - | - | "
                    + " | ".join(f"{floor[k]:.4g}" if k in floor else "-" for k, _ in COLUMNS) + " |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=PRESETS, help="one preset (default: both, one after the other)")
    ap.add_argument("--minutes", type=float, nargs="+", default=[10, 20])
    ap.add_argument("--seeds", type=int, default=3, help="seeds 0 .. N-1")
    ap.add_argument("--samples", type=int, default=10_000, help="generated (and real) digits scored per snapshot")
    ap.add_argument("--table", action="store_true", help="print the table of the saved results")
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides for every run")
    args = ap.parse_args(argv)
    if not args.table:
        for seed in range(args.seeds):
            for preset in [args.preset] if args.preset else PRESETS:
                run(preset, seed, args.minutes, args.samples, args.overrides)
    print(table(PRESETS))
    return 0


if __name__ == "__main__":
    sys.exit(main())
