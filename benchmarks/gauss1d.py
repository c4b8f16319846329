"""The lecture's 1-D example: does the default ``gauss1d`` run end with G(z) on top of N(−1, 1)?

    python benchmarks/gauss1d.py [--seeds 0 1 2 3 4] [--set KEY=VALUE ...]

Trains the ``gauss1d`` preset as shipped (one torch thread, no figures; ``--set`` adds config overrides
for experiments) once per seed, then scores the exported generator:

- ``KL``: KL(p_data ‖ q) in nats, gankit's ``kl-js`` estimator (q a Gaussian KDE of 2,000 samples,
  integrated on a grid against the exact density of N(−1, 1));
- ``W1``: exact 1-D Wasserstein-1 (the area between the CDFs) between 20,000 samples of G(z) and 200,000
  of N(−1, 1);
- ``max |D − ½|``: the largest distance of the run's final discriminator D(x) from 1/2 on the data's
  central 95 % (−1 ± 1.96), where the lecture's picture has D flat at 1/2.

The same three numbers for samples of N(−1, 1) itself in place of G(z) (the estimators' floor) are
printed first. Results: a Markdown table on stdout (each seed, then mean ± standard error) and
benchmarks/out/gauss1d.json.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gankit import api, config
from gankit.metrics.divergences import kde_divergences, wasserstein_1d_exact

OUT = Path(__file__).resolve().parent / "out"
N_FAKE, N_REAL = 20_000, 200_000
CENTRAL = (-1.0 - 1.96, -1.0 + 1.96)  # N(−1, 1)'s central 95 %


def score(fake: np.ndarray, real: np.ndarray, dataset, d_of_x=None) -> dict[str, float]:  # type: ignore[no-untyped-def]
    """KL(data ‖ KDE of fake), W1(fake, real) and, given ``d_of_x``, max |D(x) − ½| on the central 95 %."""
    row = {"KL": kde_divergences(fake, real, dataset.log_prob)["kl_data_model"],
           "W1": wasserstein_1d_exact(fake, real)}
    if d_of_x is not None:
        xs = np.linspace(*CENTRAL, 200)
        row["max |D - 1/2|"] = float(np.abs(d_of_x(xs) - 0.5).max())
    return row


def discriminator_on(root: Path):  # type: ignore[no-untyped-def]
    """D(x) of the run's last checkpoint as a function of a 1-D numpy grid."""
    recipe, _, _ = api.load_recipe(root)

    def d_of_x(xs: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            s = recipe.scores(torch.as_tensor(xs[:, None], dtype=torch.float32))
            return recipe.objective.to_prob(s).double().numpy().ravel()

    return d_of_x


def run_seed(seed: int, overrides: list[str], out: Path, real: np.ndarray) -> dict[str, float]:
    cfg = config.resolve("gauss1d", overrides=[
        "run.threads=1", "train.progress=false", "train.sample_every=0", "train.diagnostics_every=0",
        f"run.seed={seed}", f"run.out_dir={out}", f"run.name=seed{seed}", *overrides])
    torch.set_num_threads(1)
    t0 = time.perf_counter()
    run = api.train(cfg, overwrite=True)
    seconds = time.perf_counter() - t0
    fake = api.sample(run.root, N_FAKE, seed=100 + seed).reshape(-1, 1)
    from gankit.data import build_dataset

    row = score(fake, real, build_dataset(cfg.data), discriminator_on(run.root))
    return {"seed": seed, **row, "train s": seconds}


def mean_se(values: list[float]) -> str:
    v = np.asarray(values, dtype=np.float64)
    se = v.std(ddof=1) / math.sqrt(len(v)) if len(v) > 1 else float("nan")
    return f"{v.mean():.4f} ± {se:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    ap.add_argument("--set", dest="overrides", action="append", default=[], help="config override KEY=VALUE")
    args = ap.parse_args()
    from gankit.data import build_dataset

    cfg = config.resolve("gauss1d", overrides=args.overrides)
    dataset = build_dataset(cfg.data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(12345)
        real = dataset.sample(N_REAL).double().numpy()
        other = dataset.sample(N_FAKE).double().numpy()
    floor = score(other, real, dataset)
    print(f"floor (N(-1, 1) samples in place of G(z)): KL {floor['KL']:.4f}, W1 {floor['W1']:.4f}")
    rows = []
    with tempfile.TemporaryDirectory(prefix="gankit-gauss1d-") as tmp:
        for seed in args.seeds:
            rows.append(run_seed(seed, args.overrides, Path(tmp), real))
            r = rows[-1]
            print(f"seed {seed}: KL {r['KL']:.4f}  W1 {r['W1']:.4f}  max|D-1/2| {r['max |D - 1/2|']:.3f}  "
                  f"({r['train s']:.0f} s)", flush=True)
    keys = ["KL", "W1", "max |D - 1/2|", "train s"]
    print("\n| seed | " + " | ".join(keys) + " |\n|" + "---|" * (len(keys) + 1))
    for r in rows:
        print(f"| {r['seed']} | " + " | ".join(f"{r[k]:.4f}" if k != "train s" else f"{r[k]:.0f}" for k in keys) + " |")
    print("| mean ± s.e. | " + " | ".join(mean_se([r[k] for r in rows]) for k in keys) + " |")
    OUT.mkdir(exist_ok=True)
    (OUT / "gauss1d.json").write_text(json.dumps({"overrides": args.overrides, "floor": floor, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
