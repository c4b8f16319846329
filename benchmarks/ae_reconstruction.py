"""What an auto-encoder's code keeps, and what its prior costs: reconstructions beside prior samples (issue 14, item 3).

    python benchmarks/ae_reconstruction.py RUN [RUN ...] [-n 10000] [--seed 0] [--tag NAME]

A decoder's samples can be no better than what its code carries. For each trained auto-encoder run (AE, VAE or
AAE, any code size) this splits the sample FID in two:

- **reconstruction**: ``n`` training digits (set B) are encoded (the VAE: its posterior means, the AAE: its point
  codes) and decoded. The summed squared error per digit, Σ (x − x̂)² on the [-1, 1] pixel scale the nets train on,
  and the FID of the reconstructions say how much of the digits the code keeps;
- **prior samples**: ``n`` codes drawn from the prior the decoder samples from (``generator.prior``), decoded. The FID
  gap over the reconstructions is what drawing codes from p(z) instead of the encoder's q(z) costs.

Both FIDs are against another ``n`` training digits (set A, disjoint from B), scored as ``gankit eval`` scores a run:
the shipped MNIST classifier's features (never used in training). The class information the code keeps is read
off with the labels, after training only: the accuracy of a 5-nearest-neighbour vote among set B's codes for
the codes of ``n`` test digits.

Results: a Markdown table on stdout and benchmarks/out/ae-reconstruction[-TAG].json.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from gankit.data import build_dataset
from gankit.data.reference import held_out_split
from gankit.evalmode import eval_mode
from gankit.metrics.feature_registry import extract
from gankit.metrics.scores import fid_from_features
from gankit.models.autoencoder import load_recipe

OUT = Path(__file__).resolve().parent / "out"
NEIGHBOURS = 5  # the k of the k-NN vote that reads the class off a code


def decode(recipe, z: torch.Tensor, chunk: int = 1000) -> torch.Tensor:  # noqa: ANN001
    """The decoder's images of codes ``z``, in eval mode, chunk by chunk."""
    with torch.no_grad(), eval_mode(recipe.generator):
        return torch.cat([recipe.generator(z[i:i + chunk].to(recipe.device)).cpu() for i in range(0, len(z), chunk)])


def knn_accuracy(train: torch.Tensor, train_y: torch.Tensor, test: torch.Tensor, test_y: torch.Tensor,
                 k: int = NEIGHBOURS, chunk: int = 2000) -> float:
    """Share of ``test`` codes whose k nearest ``train`` codes (Euclidean) vote for the right label (ties: lowest)."""
    right = 0
    for i in range(0, len(test), chunk):
        near = torch.cdist(test[i:i + chunk], train).topk(k, largest=False).indices
        votes = torch.nn.functional.one_hot(train_y[near], 10).sum(1)
        right += int((votes.argmax(1) == test_y[i:i + chunk]).sum())
    return right / len(test)


def measure(run: str, n: int, seed: int) -> dict:
    recipe, cfg, dataset = load_recipe(run)
    held = held_out_split(cfg)
    if dataset.labels is None or held is None:
        raise SystemExit(f"ae_reconstruction: {run}'s data set has no labels or no test split")
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(dataset), generator=gen)
    a, b = order[:n], order[n:2 * n]
    x_b = dataset.images(b)
    codes = recipe.encode(x_b).cpu()
    recon = decode(recipe, codes)
    fake = decode(recipe, recipe.prior_sample(n, None, generator=gen).cpu())
    f_real, _ = extract(dataset.images(a), dataset)
    f_recon, _ = extract(recon, dataset)
    f_fake, _ = extract(fake, dataset)
    test = build_dataset(held)
    t_idx = torch.randperm(len(test), generator=gen)[:n]
    test_codes = recipe.encode(test.images(t_idx)).cpu()
    return {
        "run": str(run), "recipe": cfg.model.recipe, "code_dim": recipe.latent_dim, "prior": recipe.prior, "n": n,
        "squared_error": float((x_b - recon).pow(2).flatten(1).sum(1).mean()),
        "fid_reconstruction": fid_from_features(f_recon, f_real),
        "fid_prior_samples": fid_from_features(f_fake, f_real),
        "code_knn_accuracy": knn_accuracy(codes, dataset.labels[b], test_codes, test.labels[t_idx]),
    }


def table(results: list[dict]) -> str:
    lines = ["| run | recipe | code | prior | Σ (x − x̂)² per digit | FID, reconstructions | FID, prior samples | "
             f"code {NEIGHBOURS}-NN class accuracy |", "|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(f"| {Path(r['run']).name} | {r['recipe']} | {r['code_dim']}-D | {r['prior']} | "
                     f"{r['squared_error']:.1f} | {r['fid_reconstruction']:.0f} | {r['fid_prior_samples']:.0f} | "
                     f"{r['code_knn_accuracy']:.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", help="trained auto-encoder run folders (model.recipe ae, vae or aae)")
    ap.add_argument("-n", type=int, default=10000, help="digits per set (reference, reconstructed, test, prior draws)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    results = [measure(run, args.n, args.seed) for run in args.runs]
    print(table(results), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (f"ae-reconstruction-{args.tag}.json" if args.tag else "ae-reconstruction.json")
    path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
