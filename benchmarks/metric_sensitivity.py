"""How the classifier metrics react to real MNIST digits changed in small, known ways.

    python benchmarks/metric_sensitivity.py [--samples 5000]

Scores held-out MNIST test digits, unchanged and after Gaussian pixel noise, a 3x3 binomial blur, a
1-pixel shift and binarisation, against training digits, with the shipped classifier's metrics (FID, IS,
precision, recall), as ``gankit eval`` scores a generator. It says what a classifier-FID of 10 or 100
means in pixels. Results: benchmarks/out/metric-sensitivity.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit import config
from gankit.data import build_dataset
from gankit.data.reference import reference_sample
from gankit.metrics import evaluate

OUT = Path(__file__).resolve().parent / "out"
KEYS = ("fid", "is", "precision", "recall")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--samples", type=int, default=5000)
    args = ap.parse_args(argv)
    n = args.samples
    train = build_dataset(config.resolve("dcgan-mnist").data)
    test = build_dataset(config.resolve("dcgan-mnist", overrides=["data.split=test"]).data)
    real = reference_sample(train, n, 7)
    x = reference_sample(test, n, 8)
    g = torch.Generator().manual_seed(0)
    kernel = (torch.tensor([[1.0, 2, 1], [2, 4, 2], [1, 2, 1]]) / 16)[None, None]
    variants = {
        "test digits, unchanged": x,
        "+ N(0, 0.1²) pixel noise": x + 0.1 * torch.randn(x.shape, generator=g),
        "+ N(0, 0.3²) pixel noise": x + 0.3 * torch.randn(x.shape, generator=g),
        "3x3 binomial blur": F.conv2d(x, kernel, padding=1),
        "shifted 1 pixel right": torch.roll(x, 1, dims=3),
        "binarised at mid-grey": torch.round((x + 1) / 2) * 2 - 1,
    }
    rows = []
    print(f"{n} test digits (changed as named) against {n} training digits, shipped MNIST classifier")
    print("| test digits | classifier FID | classifier IS | precision | recall |")
    print("|---|---|---|---|---|")
    for name, y in variants.items():
        v = evaluate(["fid", "inception-score", "precision-recall"], y.clamp(-1, 1), real, train)
        rows.append({"variant": name, **{k: v[k] for k in KEYS}})
        print(f"| {name} | {v['fid']:.1f} | {v['is']:.2f} | {v['precision']:.3f} | {v['recall']:.3f} |", flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "metric-sensitivity.json").write_text(json.dumps({"samples": n, "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
