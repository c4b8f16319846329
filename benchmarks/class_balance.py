"""How an MNIST run's samples spread over the ten digits, read by the shipped classifier (a diagnosis only:
the classifier never takes part in training).

    python benchmarks/class_balance.py runs/dcgan-mnist runs/selfcond-mnist [-n 5000]

For each run's exported generator: the share of samples read as each digit, max/min share, KL(h ‖ uniform)
(0 for a generator that draws every digit equally; MNIST's own classes are within 0.003 of it) and how
confidently the digits are read (mean top probability, share of samples read below 0.9). A mode imbalance
shows in the first three numbers, poor sample quality in the last two.
"""

from __future__ import annotations

import argparse

import numpy as np
import torch

from gankit import api
from gankit.metrics.mnist_classifier import load_classifier


def balance(run: str, n: int, seed: int = 1) -> dict[str, float | list[float]]:
    net = load_classifier()
    x = torch.as_tensor(api.sample(run, n, seed=seed)).float()
    with torch.no_grad():
        p = torch.cat([net(c)[1].softmax(1) for c in x.split(500)])
    h = np.bincount(p.argmax(1).numpy(), minlength=10) / n
    conf = p.max(1).values
    return {"share": [round(float(v), 4) for v in h], "max_over_min": float(h.max() / max(h.min(), 1e-9)),
            "kl_uniform": float((h * np.log(np.maximum(h, 1e-12) * 10)).sum()),
            "mean_confidence": float(conf.mean()), "below_0.9": float((conf < 0.9).float().mean())}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("-n", type=int, default=5000, help="samples per run")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    print("| run | share of each digit 0-9 | max/min | KL(h‖U) | mean confidence | read < 0.9 |")
    print("|---|---|---|---|---|---|")
    for run in args.runs:
        b = balance(run, args.n)
        share = " ".join(f"{v:.3f}" for v in b["share"])
        print(f"| {run} | {share} | {b['max_over_min']:.1f} | {b['kl_uniform']:.3f} | {b['mean_confidence']:.3f} "
              f"| {b['below_0.9']:.3f} |")


if __name__ == "__main__":
    main()
