"""LAPGAN against DCGAN on MNIST at equal generator steps: classifier FID and IS, and time per step.

    python benchmarks/lapgan.py --preset dcgan-mnist --steps 300 600     # one run (run the two in parallel)
    python benchmarks/lapgan.py --preset lapgan-mnist --steps 300 600
    python benchmarks/lapgan.py --table                                  # the Markdown table of both

Each run trains the preset as shipped (EMA of G included) with one torch thread through gankit's
Trainer; a callback copies the sampling generator at each step mark and the run ends at the last one.
Time per step is the training clock over the steps (the copying excluded, no figures during training);
the machine is shared, so it is recorded as "under load", and the quality is compared at fixed steps,
not at fixed time. Every snapshot is scored with the shipped MNIST classifier (classifier FID with its
bootstrap interval and IS) on ``--samples`` generated digits against as many training digits, exactly
as ``gankit eval`` does; the real-vs-real floor scores as many test digits the same way.

Results: benchmarks/out/lapgan-<preset>.json, a sample grid per snapshot and, for LAPGAN, the stages
figure (lapgan-stages.png). MNIST must be cached (``gankit data get mnist``; GANKIT_DATA).
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from pathlib import Path

import torch

from gankit import api, config
from gankit.data import build_dataset
from gankit.data.reference import reference_sample
from gankit.metrics import evaluate
from gankit.viz import save_image_grid
from image_quality import Marks, fmt  # benchmarks/ is on sys.path when this script runs

OUT = Path(__file__).resolve().parent / "out"
METRICS = ["fid", "inception-score"]


class StepMarks(Marks):
    """Copies the sampling generator at each step mark (time excluded from the clock); the run ends at the last."""

    def __init__(self, steps: list[int]) -> None:
        super().__init__([])
        self.marks = sorted(steps)

    def on_step(self, trainer, step: int) -> None:  # noqa: ANN001
        if step not in self.marks:
            return
        elapsed = time.perf_counter() - self.t0 - self.excluded
        t = time.perf_counter()
        self.snapshots.append({"step": step, "train_seconds": round(elapsed, 1),
                               "state": copy.deepcopy(trainer.sampling_net().state_dict())})
        print(f"  step {step}: {elapsed:.0f} s, {elapsed / step:.3f} s/step", flush=True)
        self.excluded += time.perf_counter() - t


def run(preset: str, steps: list[int], samples: int) -> Path:
    cfg = config.resolve(preset, overrides=[
        f"run.out_dir={OUT / 'runs'}", f"run.name=lapgan-bench-{preset}", f"train.steps={max(steps)}",
        "train.eval_every=0", "train.progress=false", "train.diagnostics_every=0", "run.threads=1",
        f"train.checkpoint_every={max(steps)}",
    ])
    marks = StepMarks(steps)
    print(f"training {preset} for {max(steps)} steps, 1 thread", flush=True)
    api.train(cfg, overwrite=True, callbacks=[marks])
    rd = api.run_dir_for(cfg)
    net, _, _ = api.load_generator(rd.root)
    dataset = build_dataset(cfg.data)
    real = reference_sample(dataset, samples, cfg.eval.seed + 3)
    other, floor_kind = api.held_out_reference(cfg, dataset, samples)
    floor = evaluate(METRICS, other, real, dataset)
    results = []
    for snap in marks.snapshots:
        net.load_state_dict(snap["state"])
        fake = api.sample_net(net, samples, seed=cfg.eval.seed + 2)
        values = evaluate(METRICS, fake, real, dataset)
        grid = OUT / f"lapgan-{preset}-step{snap['step']}.png"
        save_image_grid(fake[:64], grid)
        results.append({k: v for k, v in snap.items() if k != "state"} | {"metrics": values, "grid": grid.name})
        print(f"  step {snap['step']}: fid {values['fid']:.4g}, is {values['is']:.4g}", flush=True)
    if hasattr(net, "stages"):
        from gankit.viz.stages import plot_stages

        plot_stages(api.stages(rd.root, 8), OUT / "lapgan-stages.png", title=f"{preset}: coarse-to-fine sampling")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"lapgan-{preset}.json"
    params = sum(p.numel() for p in net.parameters())
    out.write_text(json.dumps({"preset": preset, "samples": samples, "threads": 1, "generator_parameters": params,
                               "floor_kind": floor_kind, "floor": floor, "snapshots": results,
                               "torch": torch.__version__}, indent=2) + "\n")
    print(f"wrote {out}")
    return out


def table(presets: list[str]) -> str:
    rows = ["| preset | G params | step | s/step (under load) | classifier FID [95 %] | classifier IS |",
            "|---|---|---|---|---|---|"]
    floor = None
    for preset in presets:
        data = json.loads((OUT / f"lapgan-{preset}.json").read_text())
        floor = data["floor"]
        for s in data["snapshots"]:
            m = s["metrics"]
            rows.append(f"| {preset} | {data['generator_parameters']:,} | {s['step']} | "
                        f"{s['train_seconds'] / s['step']:.2f} | {fmt(m, 'fid')} | {fmt(m, 'is')} |")
    if floor is not None:
        rows.append(f"| real vs real (test vs train) | - | - | - | {fmt(floor, 'fid')} | {fmt(floor, 'is')} |")
    return "\n".join(rows)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", choices=["dcgan-mnist", "lapgan-mnist"])
    ap.add_argument("--steps", type=int, nargs="+", default=[300, 600])
    ap.add_argument("--samples", type=int, default=10_000, help="generated (and real) digits scored per snapshot")
    ap.add_argument("--table", action="store_true", help="print the table of both presets' results")
    args = ap.parse_args(argv)
    if args.table:
        print(table(["dcgan-mnist", "lapgan-mnist"]))
        return 0
    if not args.preset:
        ap.error("give --preset or --table")
    run(args.preset, args.steps, args.samples)
    return 0


if __name__ == "__main__":
    sys.exit(main())
