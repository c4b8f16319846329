"""How the calibration of discriminator rejection sampling changes what it samples (BENCHMARKS.md, grid25).

Scores 2,500 rejection samples of one trained run for several (calibration steps, Adam step size) pairs
against the same 2,500 data points: modes, % HQ, mode KL, W1 (docs/protocols.md). The run is trained first
when it does not exist (the grid25 preset with the MMGAN loss, seed 0, as in BENCHMARKS.md).

    python benchmarks/rejection_calibration.py                               # the table in BENCHMARKS.md
    python benchmarks/rejection_calibration.py --run runs/x 1000:1e-4 3000:1e-4
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

import torch

from gankit import api
from gankit.metrics import evaluate
from gankit.rejection import recipe_sampler

DEFAULT = ["0:1e-3", "300:1e-4", "1000:1e-4", "3000:1e-4", "1000:1e-3", "3000:1e-3"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", default="benchmarks/out/runs/grid25-mmgan-s0")
    ap.add_argument("settings", nargs="*", default=DEFAULT, help="STEPS:LR pairs")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run = Path(args.run)
    if not (run / "generator.safetensors").exists():
        subprocess.run([sys.executable, "-m", "gankit", "-q", "train", "grid25", "model.objective=mmgan",
                        f"run.out_dir={run.parent}", f"run.name={run.name}", "train.progress=false", "--overwrite"],
                       check=True)
    net, cfg, _ = api.load_generator(run)
    _, _, dataset = api.load_recipe(run)
    torch.manual_seed(5)
    real = dataset.sample(2500).double().numpy()
    print("| calibration | modes | % HQ | mode KL | W1 | acceptance | s |\n|---|---|---|---|---|---|---|")
    for item in args.settings:
        steps, lr = int(item.split(":")[0]), float(item.split(":")[1])
        t0 = time.perf_counter()
        recipe, _, _ = api.load_recipe(run)  # a fresh D for every setting
        res = recipe_sampler(recipe, dataset, net, steps, 7, cfg.data.batch_size, lr)(2500)
        m = evaluate(["modes", "wasserstein"], res.samples.double().numpy(), real, dataset)
        print(f"| {steps} steps, Adam {lr:g} | {m['modes']:.0f} | {m['hq']:.1f} | {m['mode_kl']:.3f} | {m['w1']:.3f} | "
              f"{100 * res.acceptance:.2f} % | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
