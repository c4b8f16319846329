"""pix2pix variants on one paired task at equal steps: which setting draws better translations per step.

    python benchmarks/pix2pix_variants.py --steps 2000 --seed 0 base "drop1=generator.dropout_layers=1" \
        "lam10=model.l1_weight=10" "dlr1e3=d_optim.lr=1e-3" "hinge=model.objective=hinge"

Each variant (NAME or NAME=OVERRIDE [OVERRIDE ...], overrides separated by spaces) trains the task's preset for
the same number of steps on one thread and is scored as benchmarks/pix2pix.py scores its runs (L1 to the target,
classifier FID against real targets, the task measure, the colour entropy on shapes). Quality at equal steps does
not depend on the machine's load, so this may run beside other work; its seconds do, and are labelled so.
One JSON line per variant; runs under benchmarks/out/pix2pix/ (named by task, variant, steps and seed).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pix2pix as bench  # noqa: E402  (the sibling benchmark's training and scoring)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", choices=sorted(bench.PRESETS), default="masks")
    ap.add_argument("--steps", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("variants", nargs="+", help="NAME or NAME=OVERRIDE [OVERRIDE ...]")
    args = ap.parse_args()
    torch.set_num_threads(1)
    variants: dict[str, list[str]] = {}
    for v in args.variants:
        name, _, rest = v.partition("=")
        variants[f"{name}-{args.steps}steps"] = rest.split() if rest else []
    preset = bench.PRESETS[args.task]
    scoring = bench.held_out(preset, 0)
    # minutes only name the run and cap it: the step count decides (train.steps comes last and wins)
    run_args = argparse.Namespace(minutes=600, threads=1, checkpoint_every=100000,
                                  overrides=[f"train.steps={args.steps}"])
    for name, overrides in variants.items():
        t0 = time.monotonic()
        r = bench.train_and_score(preset, name, args.seed, run_args, scoring, method_overrides=overrides)
        print(json.dumps({"variant": name, "on": args.task, "seed": args.seed, "steps": args.steps,
                          "seconds_under_load": round(time.monotonic() - t0),
                          **{k: round(v, 4) for k, v in r.items()}}), flush=True)


if __name__ == "__main__":
    main()
