"""LAPGAN against DCGAN on MNIST at equal wall time: classifier FID and IS, and each pyramid level's FID.

    python benchmarks/lapgan.py --minutes 10 20 --seeds 3                      # both presets, one after the other
    python benchmarks/lapgan.py --preset lapgan-mnist --minutes 10 20 --seeds 3  # one preset (run two in parallel)
    python benchmarks/lapgan.py --table                                        # the Markdown table of what is saved
    python benchmarks/lapgan.py --minutes 0.05 --seeds 1 --samples 200         # smoke run
    python benchmarks/lapgan.py --preset lapgan-mnist --steps 600 --tag T KEY=VALUE ...  # equal steps, a variant

Each (preset, seed) run trains the preset as shipped (EMA of G included, ``run.seed`` = the seed) with
one torch thread through gankit's Trainer; a callback copies the sampling generator when the training
clock passes each mark (benchmarks/image_quality.py's Marks) and ends the run at the last one. Every
snapshot is scored on ``--samples`` generated digits against as many training digits with the shipped
MNIST classifier, exactly as ``gankit eval`` does: classifier FID and IS, and ``level-fid``
(gankit.metrics.pyramid: the FID and coverage of each Gaussian-pyramid level, 28, 14 and 7 px, against
the real pyramid; a collapsed coarse level shows there). The real-vs-real floor (test digits against the
same training digits) is scored the same way. The table gives mean ± standard error over the seeds.

For a LAPGAN each band GAN is also scored alone (``band{k}_fid``): level k rebuilt from the *real* coarser
level, Ĩ_k = u(I_{k+1}) + G_k(z_k, u(I_{k+1})) on held-out digits, against the real level k (both upsampled
to 28 px, as level-fid does). Levels are trained independently from the real pyramid, so this separates a
weak band GAN from a band GAN fed a poor coarse sample. ``--steps N`` trains N steps instead of to the
minute marks (one snapshot, at the end); ``--tag T`` names the results lapgan-T-<preset>-s<seed>.json so
variants (KEY=VALUE overrides) do not overwrite the presets' own runs.

Results: benchmarks/out/lapgan[-<tag>]-<preset>-s<seed>.json, a sample grid per snapshot, and for LAPGAN the
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
from gankit.metrics import evaluate, features
from gankit.metrics.images import fid_from_features
from gankit.nets.laplacian import LaplacianGenerator, gaussian_pyramid, upsample
from gankit.viz import save_image_grid
from image_quality import Marks  # benchmarks/ is on sys.path when this script runs

OUT = Path(__file__).resolve().parent / "out"
PRESETS = ["lapgan-mnist", "dcgan-mnist"]
METRICS = ["fid", "inception-score", "level-fid"]
COLUMNS = [("fid", "classifier FID"), ("is", "classifier IS"), ("level2_fid", "7 px level FID"),
           ("level1_fid", "14 px level FID"), ("level2_coverage", "7 px coverage"),
           ("band1_fid", "14 px band alone FID"), ("band0_fid", "28 px band alone FID")]


@torch.no_grad()
def band_alone(net: torch.nn.Module, cond: np.ndarray, real: np.ndarray, dataset, seed: int) -> dict[str, float]:  # noqa: ANN001
    """``band{k}_fid``: FID of level k rebuilt by G_k from the real coarser level of ``cond`` against ``real``'s
    level k (both brought back to the full side by k bilinear upsamplings); {} for a net without bands."""
    if not isinstance(net, LaplacianGenerator):
        return {}
    x, ref = features.as_images(cond, dataset), features.as_images(real, dataset)
    given, target = gaussian_pyramid(x, net.levels), gaussian_pyramid(ref, net.levels)
    _, planes = net.split(net.sample_noise(len(x), generator=torch.Generator().manual_seed(seed)))
    out = {}
    for k in range(net.levels - 1):
        low = upsample(given[k + 1])
        fake, true = (low + net.band(k, planes[k], low)).clamp(-1.0, 1.0), target[k]
        for _ in range(k):
            fake, true = upsample(fake), upsample(true)
        out[f"band{k}_fid"] = fid_from_features(features.extract(fake, dataset)[0], features.extract(true, dataset)[0])
    return out


def run(preset: str, seed: int, minutes: list[float], samples: int, overrides: list[str], steps: int = 0,
        tag: str = "") -> Path:
    """Train ``preset`` under ``seed`` for max(minutes) (``steps`` > 0: that many steps), score every snapshot;
    the JSON's path."""
    name = f"lapgan-{tag + '-' if tag else ''}{preset}-s{seed}"
    cfg = config.resolve(preset, overrides=[
        *overrides, f"run.out_dir={OUT / 'runs'}", f"run.name=bench-{name}", f"run.seed={seed}",
        f"train.steps={steps or 100000000}", "train.eval_every=0", "train.progress=false",
        "train.diagnostics_every=0", "run.threads=1", "train.checkpoint_every=100000000",
    ])
    marks = Marks(minutes if not steps else [1e9])
    print(f"training {preset} {' '.join(overrides)} (seed {seed}) for "
          f"{f'{steps} steps' if steps else f'{max(minutes)} min'}, 1 thread", flush=True)
    t0 = time.perf_counter()
    api.train(cfg, overwrite=True, callbacks=[marks])
    wall = time.perf_counter() - t0
    rd = api.run_dir_for(cfg)
    net, _, _ = api.load_generator(rd.root)
    if steps:  # one snapshot: the exported sampling net at the end
        marks.snapshots = [{"minutes": round(wall / 60, 2), "step": steps, "train_seconds": round(wall, 1),
                            "state": net.state_dict()}]
    dataset = build_dataset(cfg.data)
    real = reference_sample(dataset, samples, cfg.eval.seed + 3)
    other, floor_kind = api.held_out_reference(cfg, dataset, samples)
    floor = evaluate(METRICS, other, real, dataset)
    results = []
    for snap in marks.snapshots:
        net.load_state_dict(snap["state"])
        fake = api.sample_net(net, samples, seed=cfg.eval.seed + 2)
        values = evaluate(METRICS, fake, real, dataset) | band_alone(net, other, real, dataset, cfg.eval.seed + 2)
        snap["s_per_step"] = round(snap["train_seconds"] / max(snap["step"], 1), 4)
        grid = OUT / f"{name}-{snap['minutes']:g}min.png"
        save_image_grid(fake[:64], grid)
        results.append({k: v for k, v in snap.items() if k not in ("state", "d_state")}
                       | {"metrics": values, "grid": grid.name})
        print(f"  {snap['minutes']:g} min (step {snap['step']}, {snap['s_per_step']} s/step): "
              + ", ".join(f"{k} {values[k]:.4g}" for k, _ in COLUMNS if k in values), flush=True)
    if hasattr(net, "stages"):
        from gankit.viz.stages import plot_stages

        plot_stages(api.stages(rd.root, 8), OUT / f"lapgan-{tag + '-' if tag else ''}stages.png",
                    title=f"{preset}: coarse-to-fine sampling")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"{name}.json"
    out.write_text(json.dumps({"preset": preset, "seed": seed, "tag": tag, "overrides": overrides, "samples": samples,
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


def table(presets: list[str], tag: str = "") -> str:
    """Mean ± s.e. over the saved seeds, per preset and minutes mark, with the real-vs-real floor."""
    head = "| preset | minutes | seeds | steps | " + " | ".join(name for _, name in COLUMNS) + " |"
    rows = [head, "|---|---|---|---|" + "---|" * len(COLUMNS)]
    floor = None
    for preset in presets:
        files = sorted(OUT.glob(f"lapgan-{tag + '-' if tag else ''}{preset}-s*.json"))
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
    ap.add_argument("--steps", type=int, default=0, help="train this many steps (not to --minutes): equal steps")
    ap.add_argument("--tag", default="", help="name of this variant's results (lapgan-TAG-<preset>-s<seed>.json)")
    ap.add_argument("--table", action="store_true", help="print the table of the saved results")
    ap.add_argument("overrides", nargs="*", help="KEY=VALUE config overrides for every run")
    args = ap.parse_args(argv)
    if not args.table:
        for seed in range(args.seeds):
            for preset in [args.preset] if args.preset else PRESETS:
                run(preset, seed, args.minutes, args.samples, args.overrides, args.steps, args.tag)
    print(table(PRESETS, args.tag))
    return 0


if __name__ == "__main__":
    sys.exit(main())
