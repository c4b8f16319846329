"""Self-conditioning variants at equal steps: sample quality and, as a diagnostic only, cluster purity.

    python benchmarks/selfcond.py --preset selfcond-mnist --steps 1000 --every 250 --tag base [KEY=VALUE ...]
    python benchmarks/selfcond.py --preset cgan-mnist --steps 1000 --every 250 --tag cgan

Trains the preset through gankit's own Trainer (periodic evaluation off). Every ``--every`` steps a
callback scores the sampling generator (EMA when the preset has it) on ``--samples`` images against as
many training images (``eval.metrics``, default FID and IS with the shipped MNIST classifier) and, for a
self-conditioned run, reads how the recipe's clusters split ``--samples`` labelled *test* digits:

    purity = (1/N) Σ_k max_c n_kc        (n_kc: test digits of class c in cluster k)
    NMI    = I(cluster; class) / sqrt(H(cluster) H(class))

The labels are read here, after the fact, and nothing of them reaches the run: a diagnostic of whether
the clusters the GAN conditions on are digits, never an input of training. The clock excludes scoring.

Results: one line per mark on stdout and benchmarks/out/selfcond-<tag>.json.
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
from gankit.data.reference import held_out_split, reference_sample
from gankit.metrics import evaluate
from gankit.sampling import sample_net
from gankit.train.callbacks import Callback

OUT = Path(__file__).resolve().parent / "out"


def purity_nmi(clusters: np.ndarray, classes: np.ndarray) -> tuple[float, float]:
    """Purity and normalised mutual information (geometric normalisation) of a clustering against classes."""
    _, ci = np.unique(clusters, return_inverse=True)
    _, yi = np.unique(classes, return_inverse=True)
    n = np.zeros((ci.max() + 1, yi.max() + 1))
    np.add.at(n, (ci, yi), 1)
    p = n / n.sum()
    pk, pc = p.sum(1), p.sum(0)
    nz = p > 0
    mi = float((p[nz] * np.log(p[nz] / np.outer(pk, pc)[nz])).sum())
    hk, hc = float(-(pk[pk > 0] * np.log(pk[pk > 0])).sum()), float(-(pc[pc > 0] * np.log(pc[pc > 0])).sum())
    return float(n.max(1).sum() / n.sum()), mi / np.sqrt(hk * hc) if hk > 0 and hc > 0 else 0.0


class Marks(Callback):
    """Scores the run every ``every`` steps; the scoring time is left out of ``train_seconds``."""

    def __init__(self, every: int, n: int, metrics: list[str], dataset, test) -> None:  # noqa: ANN001
        self.every, self.n, self.metrics = every, n, metrics
        self.dataset = dataset
        self.real = reference_sample(dataset, n, 3)
        idx = torch.randperm(len(test), generator=torch.Generator().manual_seed(5))[:n]
        self.test_x, self.test_y = test.images(idx), test.labels[idx].numpy()
        self.rows: list[dict] = []
        self.t0 = 0.0
        self.excluded = 0.0

    def on_start(self, trainer) -> None:  # noqa: ANN001
        self.t0 = time.perf_counter()

    def on_step(self, trainer, step: int) -> None:  # noqa: ANN001
        if step % self.every:
            return
        t = time.perf_counter()
        row: dict = {"step": step, "train_seconds": round(t - self.t0 - self.excluded, 1)}
        recipe = trainer.recipe
        if hasattr(recipe, "clusters_of") and int(recipe.clusters.clustered) > 0:
            c = recipe.clusters_of(self.test_x.to(recipe.device)).cpu().numpy()
            row["purity"], row["nmi"] = purity_nmi(c, self.test_y)
            row["clusters_used"] = int(len(np.unique(c)))
        fake = sample_net(trainer.sampling_net(), self.n, seed=2)
        row |= evaluate(self.metrics, fake, self.real, self.dataset)
        self.rows.append(row)
        print("  " + ", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in row.items()
                               if not k.endswith(("_low", "_high", "_std", "_n"))), flush=True)
        self.excluded += time.perf_counter() - t


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="selfcond-mnist")
    ap.add_argument("--steps", type=int, default=1000)
    ap.add_argument("--every", type=int, default=250)
    ap.add_argument("--samples", type=int, default=2000, help="generated (and real) images scored per mark")
    ap.add_argument("--metrics", nargs="+", default=["fid", "inception-score"])
    ap.add_argument("--tag", default="")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    tag = args.tag or args.preset
    overrides = [*args.overrides, f"run.out_dir={OUT / 'runs'}", f"run.name=selfcond-{tag}",
                 f"train.steps={args.steps}", "train.eval_every=0", "train.progress=false", "train.sample_every=0",
                 "train.diagnostics_every=0"]
    cfg = config.resolve(args.preset, overrides=overrides)
    dataset = build_dataset(cfg.data)
    held = held_out_split(cfg)
    if held is None:
        print("selfcond.py: error: the data set has no labelled test split to read purity from", file=sys.stderr)
        return 2
    marks = Marks(args.every, args.samples, args.metrics, dataset, build_dataset(held))
    print(f"training {args.preset} ({' '.join(args.overrides)}) for {args.steps} steps", flush=True)
    t = time.perf_counter()
    api.train(cfg, overwrite=True, callbacks=[marks])
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"selfcond-{tag}.json"
    out.write_text(json.dumps({"preset": args.preset, "overrides": args.overrides, "samples": args.samples,
                               "wall_seconds": round(time.perf_counter() - t, 1), "rows": marks.rows,
                               "threads": torch.get_num_threads(), "torch": torch.__version__}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
