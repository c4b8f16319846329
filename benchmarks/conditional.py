"""Conditional GAN on MNIST: how often the shipped classifier reads the digit each sample was asked for.

    GANKIT_DATA=/path/to/cache python benchmarks/conditional.py --steps 800 --styles projection acgan concat
    python benchmarks/conditional.py --steps 800 --styles concat --tag ma model.matching_aware=true
    python benchmarks/conditional.py --steps 1600 --styles concat --resume   # continue those runs to 1,600 steps

For each conditioning style (``model.condition``) the ``cgan-mnist`` preset is trained for a fixed number of
generator steps through gankit's own Trainer (one torch thread, ``train.time_limit`` as a wall-time guard:
a run that hits it reports the step it reached). Its exported generator (EMA) is then scored like
``gankit eval`` does: ``--samples`` conditional samples, classes uniform, against as many training digits:

- ``class_accuracy``: the shipped classifier's digit equals the conditioning digit (percentile bootstrap);
- classifier FID and IS (centred bootstrap), for sample quality regardless of the class.

Reference rows: the classifier on real test digits with their true labels (what a perfect conditional
generator would score) and the FID/IS real-vs-real floor (test split vs the same training digits).
Results: benchmarks/out/conditional-<tag>-<steps>.json, each run's classes.png (one row per digit) under
benchmarks/out/conditional/, and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from gankit import api, config
from gankit.data import build_dataset
from gankit.metrics import evaluate
from gankit.metrics.mnist_classifier import class_accuracy
from gankit.train.stats import read_jsonl

OUT = Path(__file__).resolve().parent / "out"
KEYS = ("class_accuracy", "fid", "is")


def fmt(values: dict[str, float], key: str) -> str:
    if key not in values:
        return "–"
    v, lo, hi = values[key], values.get(f"{key}_low"), values.get(f"{key}_high")
    digits = ".3f" if key == "class_accuracy" else ".4g"
    return f"{v:{digits}} [{lo:{digits}}, {hi:{digits}}]" if lo is not None else f"{v:{digits}}"


def real_rows(n: int, seed: int) -> dict[str, float]:
    """The classifier's accuracy on ``n`` real test digits with their labels, and the FID/IS floor."""
    cfg = config.resolve("cgan-mnist")
    train_set = build_dataset(cfg.data)
    test_cfg = config.resolve("cgan-mnist", overrides=["data.split=test"])
    test = build_dataset(test_cfg.data)
    idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(seed))[:n]
    out = class_accuracy(test.images(idx), test.labels[idx].numpy())
    real = api.reference_sample(train_set, n, cfg.eval.seed + 3)
    out.update(evaluate(["fid", "inception-score"], test.images(idx), real, train_set))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--styles", nargs="+", default=["projection", "acgan", "concat"],
                    choices=list(config.CONDITIONS))
    ap.add_argument("--steps", type=int, default=800, help="generator steps per run")
    ap.add_argument("--minutes", type=float, default=12.0, help="wall-time guard per run (train.time_limit)")
    ap.add_argument("--samples", type=int, default=5000, help="conditional samples (and real digits) scored")
    ap.add_argument("--no-floor", action="store_true", help="skip the real-digit reference rows")
    ap.add_argument("--resume", action="store_true",
                    help="continue each style's existing run (same --tag) to --steps instead of starting afresh")
    ap.add_argument("--tag", default="")
    ap.add_argument("overrides", nargs="*", help="extra config overrides for every run")
    args = ap.parse_args()
    runs_dir = OUT / "conditional"
    rows = []
    for style in args.styles:
        name = f"cgan-mnist-{style}" + (f"-{args.tag}" if args.tag else "")
        cfg = config.resolve("cgan-mnist", overrides=[
            f"model.condition={style}", f"train.steps={args.steps}", f"train.time_limit={args.minutes}",
            "run.threads=1", "train.eval_every=0", "train.progress=false", "train.sample_every=200",
            "train.diagnostics_every=0",
            "eval.metrics=[conditional-accuracy]", f"eval.num_samples={args.samples}",
            f"run.out_dir={runs_dir}", f"run.name={name}", *args.overrides])
        print(f"training {name} {'on ' if args.resume else 'for '}to {args.steps} steps ({' '.join(args.overrides)})",
              flush=True)
        t = time.perf_counter()
        if args.resume:  # a new session of train.time_limit minutes on the same run
            run = api.resume(runs_dir / name, [f"train.steps={args.steps}", f"train.time_limit={args.minutes}"])
        else:
            run = api.train(cfg, overwrite=True)
        wall = time.perf_counter() - t
        stats = read_jsonl(run.stats)
        step = int(stats[-1]["step"])
        # stats "time" restarts at each session: add up the sessions' last times
        train_s = sum(float(a["time"]) for a, b in zip(stats, stats[1:] + [None]) if b is None or b["time"] < a["time"])
        t = time.perf_counter()
        result = api.evaluate(run.root, n=args.samples, metrics=["conditional-accuracy", "fid", "inception-score"],
                              floor=False)
        print(f"  step {step} in {train_s:.0f} s ({step / train_s:.2f} steps/s under load); scored in "
              f"{time.perf_counter() - t:.0f} s: " + ", ".join(f"{k} {fmt(result.model, k)}" for k in KEYS), flush=True)
        rows.append({"style": style, "name": name, "step": step, "train_seconds": train_s, "wall_seconds": wall,
                     "metrics": result.model, "classes_png": str(run.classes_png)})
    floor = {} if args.no_floor else real_rows(args.samples, 0)
    extra = " ".join(args.overrides)
    print()
    print(f"cgan-mnist {extra}: {args.samples} samples per row, EMA generator")
    print("| model.condition | steps | steps/s (under load) | class accuracy | classifier FID | classifier IS |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['style']} | {r['step']} | {r['step'] / r['train_seconds']:.2f} | "
              + " | ".join(fmt(r["metrics"], k) for k in KEYS) + " |")
    if floor:
        print("| **real test digits** (true labels; FID/IS: test vs train) | – | – | "
              + " | ".join(fmt(floor, k) for k in KEYS) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"conditional{'-' + args.tag if args.tag else ''}-{args.steps}.json"
    out.write_text(json.dumps({"steps": args.steps, "samples": args.samples, "overrides": args.overrides,
                               "rows": rows, "real": floor}, indent=1))
    print(f"wrote {out}")


if __name__ == "__main__":
    np.set_printoptions(precision=4)
    main()
