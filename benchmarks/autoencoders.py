"""AAE against VAE (and GANs) on MNIST at equal wall time: code-to-prior distance and sample quality (issue 14, item 3).

    GANKIT_DATA=/path/to/cache python benchmarks/autoencoders.py [--only NAME ...] [--minutes 5] [--seeds 0 1 2]
    python benchmarks/autoencoders.py --smoke           # every part once, tiny budgets (about a minute)

Each (row, seed) trains one configuration through gankit's own trainer (``api.train``, one torch thread, the
periodic evaluation off) for ``--minutes`` of training (``train.time_limit``; ``--steps N`` instead fixes the
step count), then scores its exported generator with ``api.evaluate`` (what ``gankit eval`` does) on
``--samples`` generated images against as many training images:

- for the auto-encoders, the ``code-prior`` metric (:mod:`gankit.metrics.codes`): the codes of held-out test
  digits against as many draws of the prior — unbiased MMD² (Gaussian kernel, median-distance bandwidth) with
  its permutation p-value, sliced W1 and, for 2-D codes, the exact W1. The VAE's codes are posterior samples
  m + exp(σ/2)·e (draws of the aggregated posterior the decoder learned to decode), the AAE's its deterministic
  encoder's codes; each against the prior its decoder is sampled from;
- for every row, samples drawn from the prior through the decoder (or generator) scored with the shipped MNIST
  classifier: FID, IS, precision and recall (k-NN manifolds of its features), density and coverage; and the
  real-vs-real floor (test digits against the same training digits).

Rows: ``vae-2d``/``aae-2d`` (the presets, 2-D codes), ``vae-8d``/``aae-8d`` (8-D codes: the ``vae-mnist-8d``
preset, ``vae-mnist`` with ``generator.noise_dim=8``, and its twin ``aae-mnist-8d``, whose prior is the VAE's
N(0, I)), ``gan-mlp-2d``/
``gan-mlp-8d`` (the GAN recipe with the decoders' MLP as G), ``dcgan`` (the ``dcgan-mnist`` preset),
``aae-2d-labels`` (the label-conditioned prior), ``aae-2d-clusters`` (its unsupervised stand-in: k-means clusters
of the pixels' principal components, ``model.prior_clusters=pixels``), ``aae-2d-clusters-enc`` (the same clusters,
re-clustered on the encoder's last hidden layer every 500 steps, ``model.prior_clusters=encoder``). ``--set KEY=VALUE``
adds overrides to every row run (tuning; keep apart with ``--tag``).

For an AAE on the ten-petal mixture, the held-out test digits' labels are read after training (a diagnostic,
never an input of it; :func:`label_diagnostics`): ``petal_purity``, how pure the petals the encoder puts the
digits' codes on are (each petal's share of its majority digit, weighted by its codes), and with the cluster
prior ``cluster_purity`` (the same for the k-means clusters), ``on_petal`` (the share of codes on their cluster's
petal) and the clusters' smallest and largest shares of the digits.

Results: benchmarks/out/autoencoders[-TAG].json (updated after every run, so a partial benchmark keeps what it
measured) and a Markdown table (mean ± s.e. over seeds) on stdout and in autoencoders[-TAG].md. MNIST must be
cached (``gankit data get mnist``).
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
from gankit.metrics.codes import code_prior_distance
from gankit.models.autoencoder import labelled_sample, load_recipe
from gankit.nets import priors
from selfcond import purity_nmi  # noqa: E402  (benchmarks/ is on sys.path when run as a script)
from toy import mean_se  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
COMMON = ["run.threads=1", "train.progress=false", "train.eval_every=0", "train.diagnostics_every=0",
          "eval.num_samples=500", "eval.floor=false", "train.sample_every=0"]  # the table's come from api.evaluate
MLP_GAN = ["model.recipe=gan", "model.objective=nsgan", "generator.name=mlp", "generator.width=512",
           "generator.depth=2", "discriminator.name=mlp", "discriminator.width=512", "discriminator.depth=2",
           "discriminator.activation=leaky_relu", "g_optim.lr=2e-4", "d_optim.lr=2e-4", "g_optim.betas=[0.5, 0.999]",
           "d_optim.betas=[0.5, 0.999]", "train.ema=0"]
# name -> (preset, overrides)
RUNS: dict[str, tuple[str, list[str]]] = {
    "vae-2d": ("vae-mnist", []),
    "aae-2d": ("aae-mnist", []),
    "vae-8d": ("vae-mnist-8d", []),
    "aae-8d": ("aae-mnist-8d", []),
    "gan-mlp-2d": ("vae-mnist", MLP_GAN),
    "gan-mlp-8d": ("vae-mnist", [*MLP_GAN, "generator.noise_dim=8"]),
    "dcgan": ("dcgan-mnist", []),
    "aae-2d-labels": ("aae-mnist", ["model.prior_labels=true"]),
    "aae-2d-clusters": ("aae-mnist", ["model.prior_clusters=pixels"]),
    "aae-2d-clusters-enc": ("aae-mnist", ["model.prior_clusters=encoder"]),
}
KEYS = ("steps", "code_mmd2", "code_mmd_p", "code_w1", "code_sw", "fid", "is", "precision", "recall", "coverage")
LABEL_KEYS = ("petal_purity", "cluster_purity", "on_petal", "cluster_share_min", "cluster_share_max",
              "code_mmd2_uniform", "code_w1_uniform")
HELD_OUT = 10_000  # test digits read by label_diagnostics
UNIFORM_CODES = 2_000  # held-out codes against as many draws of the uniform mixture (the decoder's own)


def label_diagnostics(root: Path, n: int = HELD_OUT) -> dict[str, float]:
    """The labels of ``n`` held-out digits against where an AAE on the mixture prior puts them (read after training,
    never an input of it): the petals' purity, and for ``model.prior_clusters`` the clusters' purity, the share of
    codes on their cluster's petal and the clusters' smallest and largest shares; and, as the ``code-prior``
    metric compares a cluster prior's codes with their own clusters' petals, ``UNIFORM_CODES`` codes against as many
    draws of the prior the decoder samples (every petal alike; no label read): ``code_mmd2_uniform``,
    ``code_w1_uniform``. Empty for other runs."""
    recipe, cfg, dataset = load_recipe(root)
    if cfg.model.recipe != "aae" or cfg.generator.prior != "mixture":
        return {}
    x, y = labelled_sample(cfg, dataset, n, 11)
    if y is None:
        return {}
    digits = y.numpy()
    codes = recipe.encode(x)
    petal = priors.component_of("mixture", codes).cpu().numpy()
    out = {"petal_purity": purity_nmi(petal, digits)[0]}
    if cfg.model.prior_clusters != "none":
        cluster = recipe.prior_classes(x, None).cpu().numpy()
        share = np.bincount(cluster, minlength=priors.COMPONENTS) / len(cluster)
        out.update(cluster_purity=purity_nmi(cluster, digits)[0], on_petal=float((petal == cluster).mean()),
                   cluster_share_min=float(share.min()), cluster_share_max=float(share.max()))
        z = codes[:UNIFORM_CODES].cpu()
        uniform = recipe.prior_sample(len(z), None, generator=torch.Generator().manual_seed(22)).cpu()
        d = code_prior_distance(z, uniform)
        out.update(code_mmd2_uniform=d["code_mmd2"], code_w1_uniform=d["code_w1"])
    return out


def table(results: dict, floor: dict | None) -> str:
    """Markdown: one line per row name, each key as mean ± s.e. over its seeds (the label diagnostics' columns
    where some run has them)."""
    names = list(dict.fromkeys(r["name"] for r in results.values()))
    keys = (*KEYS, *(k for k in LABEL_KEYS if any(k in r["metrics"] for r in results.values())))
    lines = ["| run | seeds | " + " | ".join(keys) + " |", "|---" * (len(keys) + 2) + "|"]
    for name in names:
        rows = [r for r in results.values() if r["name"] == name]
        cells = []
        for key in keys:
            values = [r["steps"] if key == "steps" else r["metrics"][key] for r in rows
                      if key == "steps" or key in r["metrics"]]
            if not values:
                cells.append("–")
                continue
            m, se = mean_se(values)
            digits = 0 if key in ("steps", "fid") else 4 if key.startswith("code_mmd2") else 3
            cells.append(f"{m:.{digits}f}" + ("" if len(values) < 2 else f" ± {se:.{digits}f}"))
        lines.append(f"| {name} | {len(rows)} | " + " | ".join(cells) + " |")
    if floor is not None:
        lines.append("| **real vs real** (test vs train) | – | – | – | – | – | – | "
                     + " | ".join(f"{floor[k]:.3g}" if k in floor else "–" for k in keys[5:]) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(RUNS), help="rows to run (default: all)")
    ap.add_argument("--minutes", type=float, default=5.0, help="training minutes per run (train.time_limit)")
    ap.add_argument("--steps", type=int, default=0, help="a fixed step count per run instead of --minutes")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--samples", type=int, default=2000, help="generated (and real) images scored per run")
    ap.add_argument("--set", nargs="+", default=[], metavar="KEY=VALUE", help="overrides added to every run")
    ap.add_argument("--out-dir", default=str(OUT / "autoencoder-runs"))
    ap.add_argument("--tag", default="", help="results in autoencoders-TAG.json (runs in OUT-DIR/TAG)")
    ap.add_argument("--smoke", action="store_true", help="vae-2d and aae-2d, 3 s each, 300 samples (checks it runs)")
    args = ap.parse_args(argv)
    if args.smoke:
        args.only, args.minutes, args.steps, args.seeds, args.samples = ["vae-2d", "aae-2d"], 0.05, 0, [0], 300
        args.tag = args.tag or "smoke"
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (f"autoencoders-{args.tag}.json" if args.tag else "autoencoders.json")
    saved = json.loads(path.read_text()) if path.exists() else {"results": {}, "floor": None}
    budget = ([f"train.steps={args.steps}"] if args.steps
              else [f"train.time_limit={args.minutes}", "train.steps=10000000"])
    for name in args.only or list(RUNS):
        preset, overrides = RUNS[name]
        for seed in args.seeds:
            run_name = f"{name}-s{seed}"
            cfg = config.resolve(preset, overrides=[*COMMON, *overrides, *budget, *args.set, f"run.seed={seed}",
                                                    f"run.out_dir={Path(args.out_dir) / args.tag}",
                                                    f"run.name={run_name}"])
            t = time.perf_counter()
            run = api.train(cfg, overwrite=True)
            seconds = time.perf_counter() - t
            ev = api.evaluate(run.root, n=args.samples, floor=saved["floor"] is None)
            if cfg.model.recipe == "aae" and cfg.generator.prior == "mixture":
                ev.model.update(label_diagnostics(run.root))
            if ev.floor is not None:
                saved["floor"], saved["floor_kind"] = ev.floor, ev.floor_kind
            steps = ev.step
            saved["results"][run_name] = {"name": name, "seed": seed, "preset": preset,
                                          "overrides": [*overrides, *args.set], "steps": steps,
                                          "wall_seconds": round(seconds, 1), "samples": args.samples,
                                          "budget": budget, "metrics": ev.model}
            path.write_text(json.dumps(saved, indent=1))
            print(f"{run_name}: {steps} steps, {seconds:.0f} s with its evaluation; "
                  + ", ".join(f"{k} {ev.model[k]:.4g}" for k in (*KEYS[1:], *LABEL_KEYS) if k in ev.model), flush=True)
    text = table(saved["results"], saved["floor"])
    path.with_suffix(".md").write_text(text + "\n")
    print(f"\n{path.with_suffix('.md').name}: mean ± s.e. over seeds (under load unless said otherwise)")
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
