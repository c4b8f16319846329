"""Steps/s of gankit's trainer on DCGAN steps: bf16 autocast, torch.compile, and 2-process gloo DDP.

    python benchmarks/distributed.py [--preset dcgan-mnist] [--steps 40] [--warmup 5] [--rounds 2]
                                     [--variants fp32 bf16 compile ddp2] [overrides ...]

Synthetic images of the preset's shape (benchmarks/speed.py's SyntheticImages; no data set needed), the
preset's nets, batch and optimisers, figures and evaluation off. Variants:

- ``fp32``: the trainer as shipped, 1 process, ``--threads`` (default 2) threads;
- ``bf16``: ``run.precision=bf16`` (autocast around the steps);
- ``compile`` / ``bf16+compile``: ``run.compile=true`` (the warm-up steps include compilation);
- ``ddp2``: ``torchrun --nproc_per_node 2`` with gloo, 1 thread per process, the same global batch
  (each rank draws half); compare with ``fp32`` at 2 threads (the same cores) and with ``fp32-1t``
  (1 process, 1 thread).

Each variant runs ``--rounds`` times, interleaved; its best round counts. Steps/s are generator steps
(one D step + one G step) of the global batch. Results: benchmarks/out/distributed-<preset>.json and a
Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))

from gankit import config  # noqa: E402
from speed import OUT, SyntheticImages, time_trainer  # noqa: E402

VARIANTS = {  # name -> (overrides, threads per process or 0 for --threads, processes)
    "fp32": ([], 0, 1),
    "fp32-1t": ([], 1, 1),
    "bf16": (["run.precision=bf16"], 0, 1),
    "compile": (["run.compile=true"], 0, 1),
    "bf16+compile": (["run.precision=bf16", "run.compile=true"], 0, 1),
    "ddp2": ([], 1, 2),
}


def resolve(args: argparse.Namespace, extra: list[str], threads: int):  # noqa: ANN201
    return config.resolve(args.preset, overrides=[
        *args.overrides, *extra, f"train.steps={args.steps + args.warmup}", "train.progress=false",
        "train.sample_every=0", "train.ema=0", "eval.num_samples=1", "train.diagnostics_every=0",
        f"train.checkpoint_every={args.steps + args.warmup}", f"run.threads={threads}", "run.device=cpu"])


def shape_of(cfg) -> tuple[int, int, int]:  # noqa: ANN001
    return (cfg.data.channels or 1, cfg.data.image_size or 28, cfg.data.image_size or 28)


def worker(args: argparse.Namespace) -> None:
    """One rank of the ``ddp2`` variant: time the trainer in the process group torchrun set up."""
    import torch.distributed as dist

    dist.init_process_group("gloo")
    cfg = resolve(args, [], 1)
    torch.set_num_threads(1)
    torch.manual_seed(dist.get_rank())
    try:
        sps = time_trainer(cfg, SyntheticImages(shape_of(cfg)), args.steps, args.warmup)
        print(json.dumps({"steps_per_s": sps}), flush=True)
    except ZeroDivisionError:  # callbacks (the clock) run on rank 0 only: the other ranks have no time
        assert dist.get_rank() > 0
    dist.destroy_process_group()


def run_ddp(args: argparse.Namespace) -> float:
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", __file__,
           "--worker", "--preset", args.preset, "--steps", str(args.steps), "--warmup", str(args.warmup),
           *args.overrides]
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    if proc.returncode:
        raise RuntimeError(proc.stderr.strip().splitlines()[-1])
    return float(json.loads(proc.stdout.strip().splitlines()[-1])["steps_per_s"])


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="dcgan-mnist")
    ap.add_argument("--steps", type=int, default=40)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    if args.worker:
        worker(args)
        return 0

    results: dict[str, list[float]] = {v: [] for v in args.variants}
    for _ in range(args.rounds):  # interleaved: a burst of load elsewhere hits every variant alike
        for name in args.variants:
            extra, threads, procs = VARIANTS[name]
            threads = threads or args.threads
            try:
                if procs > 1:
                    sps = run_ddp(args)
                else:
                    cfg = resolve(args, extra, threads)
                    torch.set_num_threads(threads)
                    sps = time_trainer(cfg, SyntheticImages(shape_of(cfg)), args.steps, args.warmup)
            except Exception as exc:  # e.g. torch.compile without a working C++ toolchain
                print(f"  {name} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
                sps = float("nan")
            results[name].append(sps)
            print(f"  {name:<14} {sps:7.2f} steps/s", flush=True)
    cfg = resolve(args, [], args.threads)
    rows = []
    for name in args.variants:
        ok = [v for v in results[name] if v == v]
        extra, threads, procs = VARIANTS[name]
        rows.append({"variant": name, "processes": procs, "threads": threads or args.threads,
                     "steps_per_s": max(ok) if ok else float("nan"), "rounds": results[name]})
    base = next((r["steps_per_s"] for r in rows if r["variant"] == "fp32"), float("nan"))
    print(f"\n{args.preset}: global batch {cfg.data.batch_size}, images {shape_of(cfg)}, torch {torch.__version__}\n")
    print("| variant | processes x threads | steps/s (best of rounds) | vs fp32 |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['variant']} | {r['processes']} x {r['threads']} | {r['steps_per_s']:.2f} | "
              f"{r['steps_per_s'] / base:.2f} |")
    OUT.mkdir(parents=True, exist_ok=True)
    out = OUT / f"distributed-{args.preset}.json"
    out.write_text(json.dumps({"preset": args.preset, "batch": cfg.data.batch_size, "torch": torch.__version__,
                               "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
