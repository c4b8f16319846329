"""pix2pix against an L1-only regression of the same U-Net, at equal wall time, on held-out pairs.

    GANKIT_DATA=/path/to/cache python benchmarks/pix2pix.py --task edges2digits --minutes 10 --seeds 3
    python benchmarks/pix2pix.py --task shapes --minutes 10 --seeds 3
    python benchmarks/pix2pix.py --task shapes --minutes 0.5 --seeds 1 --samples 200   # a smoke run

The lecture's point (Hung-yi Lee, GAN lecture (ATDL 14), "Conditional GAN", image to image; the same point
it makes about VAEs): a pixel loss alone gives the blurry average of the plausible outputs, and the
discriminator makes them sharp (Isola et al. 2017, fig. 4 and table 1). For each seed, two runs of the
task's preset (``pix2pix-edges2digits`` or ``pix2pix-shapes``) train through gankit's own Trainer for the
same wall time (``train.time_limit``; ``--threads`` torch threads, 2 by default, "2 cores"):

- ``pix2pix``: the preset (NSGAN + 100 · L1, PatchGAN D);
- ``L1 only``: the same preset with ``model.adv_weight=0`` (same U-Net and dropout, same code, no D).

The exported (EMA) generator of each is scored like ``gankit eval`` on ``--samples`` held-out pairs
(the held-out inputs it holds, each once): ``l1`` to the target (pixels in [-1, 1]), classifier FID of
the outputs against real training targets (the MNIST classifier's features for digits, the attribute
classifier's for shapes), and the task measure ``task`` (digits: the MNIST classifier reads the source
digit's class; shapes: the attribute classifier reads the label map's kind, colour, size and position).
A reference row scores the real held-out targets the same way (the FID floor, the classifier's ceiling).

The issue's goals are checked at the end: pix2pix's FID at most a third of L1-only's, its task measure
within 2 points of L1-only's, and (digits) the class read right in >= 97 % of outputs. Results:
benchmarks/out/pix2pix-<task>.json, the runs and their translations.png under benchmarks/out/pix2pix/,
and a Markdown table (mean ± standard error over seeds) on stdout. Numbers are only comparable on one
machine and load: run it on an idle one.
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import numpy as np

from gankit import api, config
from gankit.data import build_dataset
from gankit.metrics import evaluate

OUT = Path(__file__).resolve().parent / "out"
PRESETS = {"edges2digits": "pix2pix-edges2digits", "shapes": "pix2pix-shapes"}
METHODS = {"pix2pix": [], "L1 only": ["model.adv_weight=0"]}
METRICS = ["fid", "paired-l1", "paired-task"]
KEYS = ("l1", "fid", "task")


def mean_se(values: list[float]) -> tuple[float, float]:
    v = np.asarray(values, dtype=np.float64)
    return float(v.mean()), float(v.std(ddof=1) / math.sqrt(len(v))) if len(v) > 1 else 0.0


def reference(preset: str, n: int) -> dict[str, float]:
    """The metrics of the real held-out targets: FID floor (vs training targets) and the task ceiling."""
    cfg = config.resolve(preset)
    ds = build_dataset(cfg.data)
    idx = np.arange(min(n, len(ds.held_out.targets)))
    real = api.reference_sample(ds, len(idx), cfg.eval.seed + 3)
    return evaluate(METRICS, ds.held_out_targets(idx), real, ds, labels=idx)


def train_and_score(preset: str, method: str, seed: int, args: argparse.Namespace) -> dict[str, float]:
    name = f"{preset}-{method.replace(' ', '-').lower()}-s{seed}"
    cfg = config.resolve(preset, overrides=[
        *METHODS[method], f"run.seed={seed}", f"run.threads={args.threads}", "run.device=cpu",
        f"run.out_dir={OUT / 'pix2pix'}", f"run.name={name}", "train.steps=100000000",
        f"train.time_limit={args.minutes}", "train.sample_every=0", "train.eval_every=0", "train.progress=false",
        "train.diagnostics_every=0", f"train.checkpoint_every={args.checkpoint_every}",
        f"eval.num_samples={args.samples}", f"eval.metrics=[{','.join(METRICS)}]", *args.overrides])
    run = api.train(cfg, overwrite=True)
    result = api.evaluate(run.root, args.samples, METRICS, floor=False)
    return {"step": float(result.step), **result.model}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(PRESETS), default="edges2digits")
    ap.add_argument("--minutes", type=float, default=10.0, help="training wall time per run (train.time_limit)")
    ap.add_argument("--seeds", type=int, default=3, help="runs per method (run.seed = 0 .. N-1)")
    ap.add_argument("--samples", type=int, default=1000, help="held-out pairs scored (at most the generator's bank)")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run (the issue's '2 cores')")
    ap.add_argument("--checkpoint-every", type=int, default=1000)
    ap.add_argument("overrides", nargs="*", help="extra config overrides for every run")
    args = ap.parse_args()
    preset = PRESETS[args.task]
    runs: dict[str, list[dict[str, float]]] = {m: [] for m in METHODS}
    for seed in range(args.seeds):  # alternate the methods so a change of machine load hits both alike
        for method in METHODS:
            runs[method].append(train_and_score(preset, method, seed, args))
            print(f"seed {seed} {method}: " + ", ".join(f"{k} {runs[method][-1][k]:.4g}" for k in ("step", *KEYS)),
                  flush=True)
    ref = reference(preset, args.samples)
    summary = {m: {k: mean_se([r[k] for r in rs]) for k in ("step", *KEYS)} for m, rs in runs.items()}

    print(f"\n{args.task}: {args.seeds} seed(s), {args.minutes:g} min of training each, {args.threads} thread(s), "
          f"{args.samples} held-out pairs (mean ± se)\n")
    print("| method | steps | L1 to target | classifier FID | task |")
    print("|---|---|---|---|---|")
    for m, s in summary.items():
        print(f"| {m} | {s['step'][0]:.0f} | " + " | ".join(f"{s[k][0]:.4g} ± {s[k][1]:.2g}" for k in KEYS) + " |")
    print(f"| real held-out targets | – | 0 | {ref['fid']:.4g} | {ref['task']:.4g} |")

    p, l1 = summary["pix2pix"], summary["L1 only"]
    checks = {
        "FID(pix2pix) <= FID(L1 only) / 3": p["fid"][0] <= l1["fid"][0] / 3,
        "task(pix2pix) >= task(L1 only) - 0.02": p["task"][0] >= l1["task"][0] - 0.02,
    }
    if args.task == "edges2digits":
        checks["task(pix2pix) >= 0.97 (source digit read right)"] = p["task"][0] >= 0.97
    print()
    for what, ok in checks.items():
        print(f"{'PASS' if ok else 'FAIL'}  {what}")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"pix2pix-{args.task}.json"
    out.write_text(json.dumps({"task": args.task, "minutes": args.minutes, "threads": args.threads,
                               "samples": args.samples, "runs": runs, "summary": summary, "reference": ref,
                               "checks": checks}, indent=1))
    print(f"\nwrote {out}")


if __name__ == "__main__":
    main()
