"""Image GAN quality against wall time: train once, snapshot G at given minutes, score every snapshot.

    python benchmarks/image_quality.py --preset dcgan-mnist --minutes 2 5 10 20 \
        [--tag T] [--rejection STEPS] [KEY=VALUE ...]
    python benchmarks/image_quality.py --preset stacked-mnist-dcgan --minutes 10 20 30 --samples 26000

Training runs through gankit's own Trainer (the preset as a user gets it, sample grids included, the
periodic evaluation off so that it does not eat the clock). A callback copies the sampling generator
(EMA when the preset has it) when the training clock passes each mark and ends the run at the last
one; the clock excludes only the copying itself. Afterwards every snapshot is scored with the data set's
metrics (``eval.metrics``, default all that apply) on ``--samples`` generated images against as many
training images, and the real-vs-real floor (test split vs the same training images) is scored the
same way, exactly as ``gankit eval`` does.

Results: benchmarks/out/quality-<tag>.json, a grid per snapshot (quality-<tag>-<m>min.png) and a
Markdown table on stdout. The data set must be cached (``gankit data get mnist``).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

from gankit import api, config
from gankit.data import build_dataset
from gankit.data.reference import reference_sample
from gankit.metrics import evaluate
from gankit.train.callbacks import Callback, ImageGrids
from gankit.viz import save_image_grid

OUT = Path(__file__).resolve().parent / "out"


class Marks(Callback):
    """Copies the sampling generator when the training clock passes each mark; ends the run at the last."""

    def __init__(self, minutes: list[float]) -> None:
        self.marks = sorted(minutes)
        self.snapshots: list[dict] = []
        self.t0 = 0.0
        self.excluded = 0.0

    def on_start(self, trainer) -> None:  # noqa: ANN001
        self.t0 = time.perf_counter()

    def on_step(self, trainer, step: int) -> None:  # noqa: ANN001
        if len(self.snapshots) == len(self.marks):
            return
        elapsed = time.perf_counter() - self.t0 - self.excluded
        if elapsed >= 60 * self.marks[len(self.snapshots)]:
            t = time.perf_counter()
            state = copy.deepcopy(trainer.sampling_net().state_dict())
            disc = getattr(trainer.recipe, "discriminator", None)  # for --rejection: D as it was at the mark
            d_state = copy.deepcopy(disc.state_dict()) if disc is not None else None
            self.snapshots.append({"minutes": self.marks[len(self.snapshots)], "step": step,
                                   "train_seconds": round(elapsed, 1), "state": state, "d_state": d_state})
            print(f"  snapshot at {elapsed / 60:.2f} min, step {step}", flush=True)
            if len(self.snapshots) == len(self.marks):
                trainer.request_finish()
            self.excluded += time.perf_counter() - t


def drs_row(root: Path, net: torch.nn.Module, snap: dict, steps: int, n: int, real: np.ndarray, cfg, dataset) -> dict:  # noqa: ANN001
    """Scores of ``n`` discriminator rejection samples of a snapshot (its G and its D, D calibrated ``steps``)."""
    from gankit.rejection import config_sampler

    recipe, _, _ = api.load_recipe(root)
    recipe.discriminator.load_state_dict(snap["d_state"])
    t = time.perf_counter()
    draw = config_sampler(recipe, dataset, net, cfg, steps)
    res = draw(n)
    seconds = time.perf_counter() - t
    values = evaluate(cfg.eval.metrics, res.samples.numpy(), real, dataset)
    print(f"  {snap['minutes']:g} min + DRS: acceptance {res.acceptance:.3f} ({seconds:.0f} s), " + ", ".join(
        f"{k} {values[k]:.4g}" for k in values if not k.endswith(("_low", "_high", "_std", "_n"))), flush=True)
    return {"metrics": values, "acceptance": res.acceptance, "seconds": round(seconds, 1), "steps": steps}


def fmt(values: dict, key: str) -> str:
    if key not in values:
        return "-"
    v = values[key]
    if f"{key}_low" in values:
        return f"{v:.3g} [{values[key + '_low']:.3g}, {values[key + '_high']:.3g}]"
    if f"{key}_std" in values:
        return f"{v:.3g} ± {values[key + '_std']:.2g}"
    return f"{v:.4g}"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="dcgan-mnist")
    ap.add_argument("--minutes", type=float, nargs="+", default=[2, 5, 10, 20])
    ap.add_argument("--samples", type=int, default=10_000, help="generated (and real) images scored per snapshot")
    ap.add_argument("--tag", default="")
    ap.add_argument("--rejection", type=int, default=0, metavar="STEPS",
                    help="also score discriminator rejection samples of the last snapshot (its D calibrated STEPS "
                         "steps against its generator; gankit.rejection)")
    ap.add_argument("--threads", type=int, default=0,
                    help="torch threads (0: the preset's run.threads or torch's default)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    tag = args.tag or args.preset
    overrides = [*args.overrides, f"run.out_dir={OUT / 'runs'}", f"run.name=quality-{tag}", "train.steps=100000000",
                 "train.eval_every=0", "train.progress=false"]
    if args.threads:
        overrides.append(f"run.threads={args.threads}")
    cfg = config.resolve(args.preset, overrides=overrides)
    marks = Marks(args.minutes)
    run = api.run_dir_for(cfg)
    callbacks = [ImageGrids(cfg.train.sample_every), marks] if cfg.train.sample_every else [marks]
    print(f"training {args.preset} ({' '.join(args.overrides)}) for {max(args.minutes)} min, "
          f"{torch.get_num_threads() if not args.threads else args.threads} threads", flush=True)
    t_start = time.perf_counter()
    api.train(cfg, overwrite=True, callbacks=callbacks)
    wall = time.perf_counter() - t_start

    net, _, _ = api.load_generator(run.root)
    dataset = build_dataset(cfg.data)
    n = args.samples
    real = reference_sample(dataset, n, cfg.eval.seed + 3)
    other, floor_kind = api.held_out_reference(cfg, dataset, n)
    t = time.perf_counter()
    floor = evaluate(cfg.eval.metrics, other, real, dataset)
    print(f"floor ({floor_kind}) scored in {time.perf_counter() - t:.0f} s", flush=True)
    results = []
    for snap in marks.snapshots:
        net.load_state_dict(snap["state"])
        fake = api.sample_net(net, n, seed=cfg.eval.seed + 2)
        values = evaluate(cfg.eval.metrics, fake, real, dataset)
        grid = OUT / f"quality-{tag}-{snap['minutes']:g}min.png"
        save_image_grid(fake[:64], grid)
        results.append({k: v for k, v in snap.items() if k not in ("state", "d_state")}
                       | {"metrics": values, "grid": grid.name})
        print(f"  {snap['minutes']:g} min (step {snap['step']}): " + ", ".join(
            f"{k} {values[k]:.4g}" for k in values if not k.endswith(("_low", "_high", "_std", "_n"))), flush=True)
        if args.rejection and snap is marks.snapshots[-1]:  # the last mark only: DRS costs minutes per row
            results[-1]["rejection"] = drs_row(run.root, net, snap, args.rejection, n, real, cfg, dataset)

    keys = [k for k in floor if not k.endswith(("_low", "_high", "_std", "_n"))]
    print()
    print(f"{args.preset} {' '.join(args.overrides)}: {n} samples per row; floor = {floor_kind}")
    print("| minutes | step | " + " | ".join(keys) + " |")
    print("|---|---|" + "---|" * len(keys))
    for r in results:
        print(f"| {r['minutes']:g} | {r['step']} | " + " | ".join(fmt(r["metrics"], k) for k in keys) + " |")
        if "rejection" in r:
            d = r["rejection"]
            print(f"| {r['minutes']:g} + DRS (acceptance {d['acceptance']:.3f}, +{d['seconds']:.0f} s) | {r['step']} | "
                  + " | ".join(fmt(d["metrics"], k) for k in keys) + " |")
    print("| real vs real | - | " + " | ".join(fmt(floor, k) for k in keys) + " |")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"quality-{tag}.json"
    out.write_text(json.dumps({"preset": args.preset, "overrides": args.overrides, "samples": n,
                               "threads": torch.get_num_threads(), "wall_seconds": round(wall, 1),
                               "floor_kind": floor_kind, "floor": floor, "snapshots": results,
                               "torch": torch.__version__}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
