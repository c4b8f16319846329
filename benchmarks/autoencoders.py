"""VAE, AAE and GAN samples on MNIST at fixed step counts, scored the same way (issue 6, item 4).

    GANKIT_DATA=/path/to/cache python benchmarks/autoencoders.py [--only NAME ...] [--samples 10000]

Each row trains one configuration through gankit's own trainer (``api.train``, one torch thread, the
periodic evaluation off) for a fixed number of generator steps, then scores its exported generator
with ``api.evaluate``: the data set's metrics (shipped MNIST classifier FID, IS, KID, precision/recall,
density/coverage) on ``--samples`` generated images against as many training images, and the
real-vs-real floor (test split against the same training images). The VAE and AAE rows use the
presets' MLP encoder/decoder (2 x 512 units) with 2-D codes (the figures' setting) and 8-D codes; the
GAN rows are an MLP GAN whose generator is the same MLP as the decoders, and the ``dcgan-mnist`` preset.

Results: benchmarks/out/autoencoders.json (updated after every run, so a partial benchmark keeps what it
measured) and a Markdown table on stdout. MNIST must be cached (``gankit data get mnist``).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from gankit import api, config
from gankit.train.stats import read_jsonl
from image_quality import fmt  # noqa: E402  (benchmarks/ is on sys.path when run as a script)

OUT = Path(__file__).resolve().parent / "out"
COMMON = ["run.threads=1", "train.progress=false", "train.eval_every=0", "train.diagnostics_every=0",
          "eval.num_samples=500"]  # the end-of-training metrics; the table's come from api.evaluate
MLP_GAN = ["model.recipe=gan", "model.objective=nsgan", "generator.name=mlp", "generator.width=512",
           "generator.depth=2", "discriminator.name=mlp", "discriminator.width=512", "discriminator.depth=2",
           "discriminator.activation=leaky_relu", "g_optim.lr=2e-4", "d_optim.lr=2e-4", "g_optim.betas=[0.5, 0.999]",
           "d_optim.betas=[0.5, 0.999]", "train.ema=0"]
# name -> (preset, overrides, generator steps)
RUNS: dict[str, tuple[str, list[str], int]] = {
    "vae-2d": ("vae-mnist", [], 3000),
    "aae-2d": ("aae-mnist", [], 3000),
    "gan-mlp-2d": ("vae-mnist", MLP_GAN, 3000),
    "vae-8d": ("vae-mnist", ["generator.noise_dim=8"], 3000),
    "aae-8d": ("aae-mnist", ["generator.noise_dim=8", "generator.prior=normal"], 3000),
    "gan-mlp-8d": ("vae-mnist", [*MLP_GAN, "generator.noise_dim=8"], 3000),
    "aae-2d-labels": ("aae-mnist", ["model.prior_labels=true"], 3000),
    "dcgan": ("dcgan-mnist", [], 3000),
}


def _trained(root: Path, steps: int) -> bool:
    """Whether ``root`` holds a generator exported at ``steps``."""
    if not (root / "generator.safetensors").is_file():
        return False
    return int(api.load_generator(root)[2].get("step", -1)) == steps


def table(results: dict, floor: dict | None) -> str:
    rows = list(results.values())
    if not rows:
        return ""
    keys = [k for k in rows[0]["metrics"] if not k.endswith(("_low", "_high", "_std", "_n"))]
    lines = ["| run | steps | steps/s (under load) | " + " | ".join(keys) + " |", "|---" * (len(keys) + 3) + "|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['steps']} | {r['steps_per_s']:.1f} | "
                     + " | ".join(fmt(r["metrics"], k) for k in keys) + " |")
    if floor is not None:
        lines.append("| **real vs real** (test vs train) | – | – | " + " | ".join(fmt(floor, k) for k in keys) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", nargs="+", choices=list(RUNS), help="runs to do (default: all)")
    ap.add_argument("--samples", type=int, default=10000)
    ap.add_argument("--out-dir", default=str(OUT / "autoencoder-runs"))
    ap.add_argument("--reuse", action="store_true", help="score runs already trained to the step count, do not retrain")
    ap.add_argument("--steps", type=int, default=0, help="generator steps of every run (default: the table's)")
    ap.add_argument("--tag", default="", help="results in autoencoders-TAG.json (two benchmarks at once)")
    args = ap.parse_args(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / (f"autoencoders-{args.tag}.json" if args.tag else "autoencoders.json")
    saved = json.loads(path.read_text()) if path.exists() else {"results": {}, "floor": None}
    for name in args.only or list(RUNS):
        preset, overrides, steps = RUNS[name]
        cfg = config.resolve(preset, overrides=[*COMMON, *overrides, f"train.steps={args.steps or steps}",
                                                f"run.out_dir={args.out_dir}", f"run.name={name}"])
        steps = args.steps or steps
        done = Path(args.out_dir) / name
        if args.reuse and _trained(done, steps):  # score it again only
            run, seconds = api.find_run(done), float(read_jsonl(done / "stats.jsonl")[-1]["time"])
        else:
            t = time.perf_counter()
            run = api.train(cfg, overwrite=True)
            seconds = time.perf_counter() - t
        ev = api.evaluate(run.root, n=args.samples, floor=saved["floor"] is None)
        if ev.floor is not None:
            saved["floor"], saved["floor_kind"] = ev.floor, ev.floor_kind
        saved["results"][name] = {"preset": preset, "overrides": overrides, "steps": steps,
                                  "train_seconds": round(seconds, 1), "steps_per_s": steps / seconds,
                                  "samples": args.samples, "metrics": ev.model}
        path.write_text(json.dumps(saved, indent=1))
        shown = {k: v for k, v in ev.model.items() if not k.endswith(("_low", "_high", "_std", "_n"))}
        print(f"{name}: {steps} steps in {seconds:.0f} s; " + ", ".join(f"{k} {v:.4g}" for k, v in shown.items()),
              flush=True)
    print(table(saved["results"], saved["floor"]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
