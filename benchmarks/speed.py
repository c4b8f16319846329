"""Speed of a DCGAN step: gankit's trainer against a bare loop, achieved GFLOP/s against the matmul peak,
and what channels_last, torch.compile and the thread count change.

    python benchmarks/speed.py [--preset dcgan-mnist] [--steps 60] [--rounds 3] [--threads 1 2] [--compile]
                               [--device cpu|cuda] [--out FILE]

Everything uses synthetic images of the preset's shape (no data set needed), the preset's nets, batch
and optimisers. For each thread count:

- ``bare``: a hand-written loop (one D step on real + fake, one G step, non-saturating loss, Adam) with
  no logging, no statistics, no callbacks: the fastest honest loop with these nets.
- ``trainer``: gankit's Trainer on the same nets and batch with the preset's logging and checkpoint
  cadence, and the figures/evaluation callbacks off (they are measured by the quality benchmarks).
  The ratio trainer / bare is the goal (>= 0.95).
- ``bare channels_last`` and, with --compile, ``bare compiled`` (torch.compile of both nets).

FLOPs of one step come from ``torch.utils.flop_counter.FlopCounterMode`` (forward and backward of both
nets); the peak is the best of several float32 2048x2048 matrix products on the same threads.
Each variant runs ``--rounds`` times, interleaved, and its best round counts (a shared 2-core machine
has bursts of other load). Results: benchmarks/out/speed-<preset>.json and a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit import config
from gankit.registry import NETWORKS
from gankit.train.callbacks import Callback
from gankit.train.rundir import RunDir

OUT = Path(__file__).resolve().parent / "out"
CPU = torch.device("cpu")  # the default device (an immutable value, so safe as a default argument)


class SyntheticImages:
    """An in-memory image set of the preset's shape (random pixels), batched like TensorImages."""

    kind = "image"
    modes = None
    has_density = False

    def __init__(self, shape: tuple[int, int, int], n: int = 4096) -> None:
        self.name = "synthetic"
        self.shape = shape
        self.dim = shape[0] * shape[1] * shape[2]
        self.pixels = torch.randint(0, 256, (n, *shape), dtype=torch.uint8)

    def sample(self, n: int, device=None) -> torch.Tensor:  # noqa: ANN001
        idx = torch.randint(len(self.pixels), (n,))
        return self.pixels[idx].to(device=device, dtype=torch.float32).mul_(2 / 255).sub_(1)


def sync(device: torch.device) -> None:
    """Wait for the device's queued kernels, so a wall-clock interval covers the work (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_peak(threads: int, size: int = 2048, reps: int = 8, device: torch.device = CPU) -> float:
    torch.set_num_threads(threads)
    a, b = torch.randn(size, size, device=device), torch.randn(size, size, device=device)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        sync(device)
        t0 = time.perf_counter()
        torch.mm(a, b)
        sync(device)
        best = min(best, time.perf_counter() - t0)
    return 2 * size**3 / best / 1e9


def make_nets(cfg, shape, channels_last: bool = False, device: torch.device = CPU):  # noqa: ANN001
    torch.manual_seed(0)
    g = NETWORKS.get(cfg.generator.name).generator(cfg.generator, shape).to(device)
    d = NETWORKS.get(cfg.discriminator.name).discriminator(cfg.discriminator, shape).to(device)
    if channels_last:
        g, d = g.to(memory_format=torch.channels_last), d.to(memory_format=torch.channels_last)
    opt_g = torch.optim.Adam(g.parameters(), lr=cfg.g_optim.lr, betas=tuple(cfg.g_optim.betas))
    opt_d = torch.optim.Adam(d.parameters(), lr=cfg.d_optim.lr, betas=tuple(cfg.d_optim.betas))
    return g, d, opt_g, opt_d


def bare_step(g, d, opt_g, opt_d, data, bs, noise_dim, channels_last=False):  # noqa: ANN001
    device = next(g.parameters()).device
    real = data.sample(bs, device)
    if channels_last:
        real = real.contiguous(memory_format=torch.channels_last)
    with torch.no_grad():
        fake = g(torch.randn(bs, noise_dim, device=device))
    out_r, out_f = d(real), d(fake)
    loss_d = F.softplus(-out_r).mean() + F.softplus(out_f).mean()
    opt_d.zero_grad(set_to_none=True)
    loss_d.backward()
    opt_d.step()
    d.requires_grad_(False)
    loss_g = F.softplus(-d(g(torch.randn(bs, noise_dim, device=device)))).mean()
    opt_g.zero_grad(set_to_none=True)
    loss_g.backward()
    d.requires_grad_(True)
    opt_g.step()


def time_bare(cfg, data, steps: int, warmup: int, channels_last=False, compile_nets=False,  # noqa: ANN001
              device: torch.device = CPU) -> float:
    g, d, opt_g, opt_d = make_nets(cfg, data.shape, channels_last, device)
    if compile_nets:
        g, d = torch.compile(g), torch.compile(d)
    bs, nz = cfg.data.batch_size, cfg.generator.noise_dim
    for _ in range(warmup):
        bare_step(g, d, opt_g, opt_d, data, bs, nz, channels_last)
    sync(device)
    t0 = time.perf_counter()
    for _ in range(steps):
        bare_step(g, d, opt_g, opt_d, data, bs, nz, channels_last)
    sync(device)
    return steps / (time.perf_counter() - t0)


class _Clock(Callback):
    def __init__(self, warmup: int) -> None:
        self.warmup, self.t0, self.t1, self.n = warmup, 0.0, 0.0, 0

    def on_step(self, trainer, step):  # noqa: ANN001
        if step >= self.warmup:
            sync(trainer.device)
        if step == self.warmup:
            self.t0 = time.perf_counter()
        elif step > self.warmup:
            self.t1, self.n = time.perf_counter(), step - self.warmup


def time_trainer(cfg, data, steps: int, warmup: int, device: torch.device = CPU) -> float:  # noqa: ANN001
    from gankit.registry import RECIPES
    from gankit.train.trainer import Trainer

    with tempfile.TemporaryDirectory() as tmp:
        run = RunDir(Path(tmp) / "run")
        run.root.mkdir(parents=True)
        torch.manual_seed(0)
        recipe = RECIPES.get(cfg.model.recipe)(cfg, data.shape, device)
        clock = _Clock(warmup)
        trainer = Trainer(cfg, recipe, data, run, [clock], device=device)
        trainer.fit()
    return clock.n / (clock.t1 - clock.t0)


def step_flops(cfg, data) -> float:  # noqa: ANN001
    from torch.utils.flop_counter import FlopCounterMode

    g, d, opt_g, opt_d = make_nets(cfg, data.shape)
    counter = FlopCounterMode(display=False)
    with counter:
        bare_step(g, d, opt_g, opt_d, data, cfg.data.batch_size, cfg.generator.noise_dim)
    return float(counter.get_total_flops())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="dcgan-mnist")
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--rounds", type=int, default=3, help="interleaved repeats; the best of each variant counts")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"], help="where nets and batches live")
    ap.add_argument("--out", type=Path, default=None, help="results JSON (default benchmarks/out/speed-PRESET.json)")
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda but torch sees no CUDA device")
    device = torch.device(args.device)

    cfg = config.resolve(args.preset, overrides=[*args.overrides, f"train.steps={args.steps + args.warmup}",
                                                 "train.progress=false", "train.sample_every=0",
                                                 "train.ema=0", "eval.num_samples=1"])
    shape = (cfg.data.channels or 1, cfg.data.image_size or 28, cfg.data.image_size or 28)
    data = SyntheticImages(shape)
    flops = step_flops(cfg, data)
    rows = []
    print(f"{args.preset}: batch {cfg.data.batch_size}, images {shape}, {flops / 1e9:.2f} GFLOP per step (G and D, "
          f"forward and backward)", flush=True)
    for threads in args.threads:
        torch.set_num_threads(threads)
        peak = matmul_peak(threads, device=device)
        variants = [("bare", lambda: time_bare(cfg, data, args.steps, args.warmup, device=device)),
                    ("trainer", lambda: time_trainer(cfg, data, args.steps, args.warmup, device)),
                    ("bare channels_last", lambda: time_bare(cfg, data, args.steps, args.warmup, channels_last=True,
                                                             device=device))]
        if args.compile:
            variants.append(("bare compiled", lambda: time_bare(cfg, data, args.steps, max(args.warmup, 3),
                                                                compile_nets=True, device=device)))
        best: dict[str, list[float]] = {name: [] for name, _ in variants}
        for _ in range(args.rounds):  # interleaved rounds: a burst of load elsewhere hits every variant alike
            for name, fn in variants:
                torch.set_num_threads(threads)
                try:
                    best[name].append(fn())
                except Exception as exc:  # e.g. torch.compile without a working C++ toolchain
                    print(f"  {name} failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}", flush=True)
                    best[name].append(float("nan"))
        for name, _ in variants:
            ok = [v for v in best[name] if v == v]
            sps = max(ok) if ok else float("nan")
            rows.append({"threads": threads, "variant": name, "steps_per_s": sps, "gflops": sps * flops / 1e9,
                         "peak_gflops": peak, "rounds": best[name]})
            print(f"  threads {threads} {name:<20} {sps:7.2f} steps/s  {sps * flops / 1e9:6.1f} GFLOP/s "
                  f"({100 * sps * flops / 1e9 / peak:4.1f} % of the {peak:.0f} GFLOP/s matmul peak)", flush=True)
    print()
    print("| threads | loop | steps/s | GFLOP/s | % of matmul peak | vs bare |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        bare = next(x for x in rows if x["threads"] == r["threads"] and x["variant"] == "bare")
        print(f"| {r['threads']} | {r['variant']} | {r['steps_per_s']:.2f} | {r['gflops']:.1f} | "
              f"{100 * r['gflops'] / r['peak_gflops']:.1f} % of {r['peak_gflops']:.0f} | "
              f"{r['steps_per_s'] / bare['steps_per_s']:.3f} |")
    out = args.out or OUT / f"speed-{args.preset}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"preset": args.preset, "batch": cfg.data.batch_size, "gflop_per_step": flops / 1e9,
                               "device": str(device), "torch": torch.__version__, "rows": rows}, indent=2) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
