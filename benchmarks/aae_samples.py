"""Where a 2-D auto-encoder's poor samples come from: prior draws bucketed, each bucket scored (issue 14, item 3).

    python benchmarks/aae_samples.py RUN [RUN ...] [--draws 10000] [--buckets 5] [--tag NAME]

For each trained auto-encoder run (VAE or AAE, 2-D codes), ``--draws`` codes are drawn from the prior its
decoder samples from and decoded. The draws are cut into ``--buckets`` equal-count buckets twice over:

- by their log-density under the prior, log p(z) (closed form for N(0, I) and the ten-petal mixture of
  :mod:`gankit.nets.priors`): the lowest bucket is the prior's tails (a petal's tips and the centre where the
  petals meet), the highest the petals' (or the Gaussian's) cores;
- by their distance to the nearest of as many training digits' codes (the posterior draws the decoder was
  trained on, :meth:`AutoEncoder.aggregate_codes`): the highest bucket is the gaps the decoder has not seen.

Each bucket's decoded samples are scored with the shipped MNIST classifier only (never used in training):
the mean top-class probability (how sure the classifier is of the digit: blends of two digits score low), the
share read with top probability under 0.5, and the FID of the bucket against the training digits (each
bucket holds draws / buckets samples; a random subset of the same size gives the reference row "all"). The
classes read from all draws are compared with the training digits' class shares (total variation), since a
decoder that draws too few 4s loses FID wherever its digits are sharp; the row "all, class shares matched" draws
as many samples again with the training digits' class shares (by the classifier's reading), and the FID it
saves against "all" is what the class shares cost.

Results: a Markdown table per run on stdout and benchmarks/out/aae-samples[-TAG].json.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path

import numpy as np
import torch

from gankit.metrics.feature_registry import extract
from gankit.metrics.scores import fid_from_features
from gankit.models.autoencoder import load_recipe
from gankit.nets import priors

OUT = Path(__file__).resolve().parent / "out"


def log_density(kind: str, z: torch.Tensor, spread: float = 0.0) -> torch.Tensor:
    """log p(z) of 2-D points under the prior ``kind`` (normal, or the mixture of ten elongated Gaussians)."""
    if kind == "normal":
        return -0.5 * z.pow(2).sum(1) - math.log(2 * math.pi)
    if kind != "mixture":
        raise SystemExit(f"aae_samples: no closed-form density for prior '{kind}' (normal or mixture)")
    angles = 2 * math.pi * torch.arange(priors.COMPONENTS, dtype=z.dtype) / priors.COMPONENTS
    c, s = torch.cos(angles), torch.sin(angles)  # component k: radial axis (c, s), across (-s, c)
    radial = z[:, :1] * c + z[:, 1:] * s  # (n, K)
    across = -z[:, :1] * s + z[:, 1:] * c
    sr, st = priors.MIX_RADIAL_STD, spread or priors.MIX_TANGENTIAL_STD
    log_k = (-0.5 * ((radial - priors.MIX_RADIUS) / sr) ** 2 - 0.5 * (across / st) ** 2
             - math.log(2 * math.pi * sr * st))
    return torch.logsumexp(log_k, 1) - math.log(priors.COMPONENTS)


def nearest_distance(z: torch.Tensor, codes: torch.Tensor, chunk: int = 2000) -> torch.Tensor:
    """(n,) Euclidean distance from each point of ``z`` to its nearest row of ``codes``."""
    return torch.cat([torch.cdist(z[i:i + chunk], codes).min(1).values for i in range(0, len(z), chunk)])


def matched_classes(fake_class: np.ndarray, real_class: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """Indices of ``n`` samples whose classes (as the classifier reads them) follow the real images' class shares:
    round(n · share_k) of class k, without replacement where the samples hold that many (with it where not).
    Their FID against the reference row's says how much of a decoder's FID its class shares cost."""
    shares = np.bincount(real_class, minlength=10) / len(real_class)
    picks = []
    for k, share in enumerate(shares):
        have = np.flatnonzero(fake_class == k)
        want = int(round(n * share))
        if want and len(have):
            picks.append(rng.choice(have, size=want, replace=len(have) < want))
    return np.concatenate(picks)


def score(features: np.ndarray, probs: np.ndarray, real: np.ndarray) -> dict[str, float]:
    top = probs.max(1)
    return {"n": len(top), "confidence": float(top.mean()), "unsure": float((top < 0.5).mean()),
            "fid": fid_from_features(features, real)}


def diagnose(run: str, draws: int, buckets: int, seed: int) -> dict:
    recipe, cfg, dataset = load_recipe(run)
    if recipe.latent_dim != 2:
        raise SystemExit(f"aae_samples: {run} has {recipe.latent_dim}-D codes; this diagnosis is for 2-D codes")
    gen = torch.Generator().manual_seed(seed)
    z = recipe.prior_sample(draws, None, generator=gen).cpu()
    idx = torch.randperm(len(dataset), generator=gen)[:draws]
    x_train = dataset.images(idx)
    codes = recipe.aggregate_codes(x_train, generator=gen).cpu()
    with torch.no_grad():
        recipe.generator.eval()
        fake = torch.cat([recipe.generator(z[i:i + 1000]) for i in range(0, draws, 1000)])
    f_fake, p_fake = extract(fake, dataset)
    f_real, p_real = extract(x_train, dataset)
    assert p_fake is not None and p_real is not None
    out: dict = {"run": str(run), "prior": recipe.prior, "draws": draws}
    per = draws // buckets
    rows = {"all (random)": score(f_fake[:per], p_fake[:per], f_real)}
    matched = matched_classes(p_fake.argmax(1), p_real.argmax(1), per, np.random.default_rng(seed))
    rows["all, class shares matched to the training digits'"] = score(f_fake[matched], p_fake[matched], f_real)
    density = log_density(recipe.prior, z, float(cfg.generator.prior_spread))
    keys = {"log p(z)": density, "distance to nearest code": nearest_distance(z, codes)}
    for what, key in keys.items():
        order = np.argsort(key.numpy(), kind="stable")
        for b in range(buckets):
            sel = order[b * per:(b + 1) * per]
            lo, hi = float(key[sel].min()), float(key[sel].max())
            rows[f"{what} {b + 1}/{buckets} [{lo:.3g}, {hi:.3g}]"] = score(f_fake[sel], p_fake[sel], f_real)
    out["buckets"] = rows
    seen = np.bincount(p_fake.argmax(1), minlength=10) / draws
    real = np.bincount(p_real.argmax(1), minlength=10) / len(p_real)
    out["class_shares"] = {"samples": seen.round(4).tolist(), "training digits": real.round(4).tolist(),
                           "total variation": float(0.5 * np.abs(seen - real).sum())}
    out["code_spread"] = {"nearest code to a code (median)": float(nearest_distance(codes[:2000], codes[2000:4000])
                                                                   .median())}
    return out


def show(res: dict) -> str:
    lines = [f"### {res['run']} (prior {res['prior']}, {res['draws']} draws)", "",
             "| bucket | n | mean top probability | share under 0.5 | FID |", "|---|---|---|---|---|"]
    for name, r in res["buckets"].items():
        lines.append(f"| {name} | {r['n']} | {r['confidence']:.3f} | {r['unsure']:.3f} | {r['fid']:.0f} |")
    cs = res["class_shares"]
    lines += ["", "class shares (0-9), samples: " + " ".join(f"{v:.3f}" for v in cs["samples"]),
              "class shares (0-9), training: " + " ".join(f"{v:.3f}" for v in cs["training digits"]),
              f"total variation {cs['total variation']:.3f}; " + "; ".join(f"{k} {v:.3g}" for k, v in
                                                                        res["code_spread"].items()), ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+")
    ap.add_argument("--draws", type=int, default=10000)
    ap.add_argument("--buckets", type=int, default=5)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--tag", default="")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    results = []
    for run in args.runs:
        res = diagnose(run, args.draws, args.buckets, args.seed)
        results.append(res)
        print(show(res), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (f"aae-samples-{args.tag}.json" if args.tag else "aae-samples.json")
    path.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
