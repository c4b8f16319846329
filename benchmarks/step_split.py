"""Where a preset's training time goes: the same ``gankit train`` run under several configs, at equal steps,
split by part (issue 14, item 5: why dcgan-shapes' noise + minibatch-std default takes longer).

    python benchmarks/step_split.py --preset dcgan-shapes --steps 400 --rounds 2 \\
        --variant "old:reg.instance_noise=0 discriminator.minibatch=none" --variant "new:" [--profile-steps 30] \\
        [--time-variants old new]

Each variant is ``api.train`` of the preset with its default callbacks (sample grids, diagnostics, the
end-of-run figures; the preset's own ``eval.metrics``), ``train.steps`` left at the preset's value so every
annealed remedy follows the real run's schedule, stopped after ``--steps`` generator steps (a callback
calls ``request_finish``: the usual checkpoint, export and end-of-run callbacks follow). Variants run
interleaved, ``--rounds`` times (ABBA order on two variants), one torch thread. Timers wrap:

- ``startup``: from the call to the first step (data set, nets, the run folder);
- ``data``: the trainer drawing its batches; ``d_step`` / ``g_step``: the recipe's updates (noise and
  minibatch layers inside them, also timed alone as ``noise`` and ``mbstd_fwd``); ``ema``: the EMA update;
- ``log``: stats.jsonl lines; ``checkpoint``: checkpoints/last.pt; each callback's ``on_step`` by class;
- ``end``: export and the end-of-run callbacks; ``other``: the loop's remainder (progress bar, checks).

With ``--profile-steps N`` each variant also runs N recipe steps (D then G) under ``torch.profiler`` on a
fresh recipe and prints the ops whose self time differs most between the first two variants (the backward
of the minibatch layer shows up there, where no Python timer can reach). Results: a Markdown table on
stdout and ``benchmarks/out/step-split-<preset>.json``. One machine, so ratios mean more than seconds.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from gankit import api, config, regularizers
from gankit.nets import remedies
from gankit.train.callbacks import Callback

OUT = Path(__file__).resolve().parent / "out"


class Timers:
    """Seconds and calls per part name."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, name: str, fn: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                self.seconds[name] += time.perf_counter() - t
                self.calls[name] += 1
        return timed


class _Split(Callback):
    """Wraps the trainer's parts at the start; finishes the run after ``steps`` steps."""

    def __init__(self, timers: Timers, steps: int, began: float) -> None:
        self.timers, self.steps, self.began = timers, steps, began
        self.loop_start = self.loop_end = 0.0
        self.trainer: Any = None
        self.in_loop: tuple[dict[str, float], dict[str, int]] = ({}, {})

    def on_start(self, trainer: Any) -> None:
        t = self.timers
        self.trainer = trainer
        t.seconds["startup"] = time.perf_counter() - self.began
        recipe = trainer.recipe
        recipe.d_step = t.wrap("d_step", recipe.d_step)
        recipe.g_step = t.wrap("g_step", recipe.g_step)
        trainer._batch = t.wrap("data", trainer._batch)
        trainer.save = t.wrap("checkpoint", trainer.save)
        trainer.stats.write = t.wrap("log", trainer.stats.write)
        if trainer.ema is not None:
            trainer.ema.update_parameters = t.wrap("ema", trainer.ema.update_parameters)
        for cb in trainer.callbacks:
            if cb is not self:
                cb.on_step = t.wrap(f"{type(cb).__name__}.on_step", cb.on_step)  # type: ignore[method-assign]
        self.loop_start = time.perf_counter()

    def on_step(self, trainer: Any, step: int) -> None:
        if step >= self.steps and not self.loop_end:
            self.loop_end = time.perf_counter()
            self.in_loop = dict(self.timers.seconds), dict(self.timers.calls)  # the end's checkpoint is not the loop's
            trainer.request_finish()


def subnormals(trainer: Any) -> int:
    """Float32 values below the smallest normal number (slow arithmetic on CPUs that do not flush them) in the
    recipe's weights, buffers, gradients and optimiser states and in the EMA copy."""
    tensors = [t for m in trainer.recipe.modules().values() for t in (*m.parameters(), *m.buffers())]
    tensors += [p.grad for m in trainer.recipe.modules().values() for p in m.parameters() if p.grad is not None]
    tensors += [v for opt in trainer.recipe.optimizers.values() for st in opt.state.values() for v in st.values()
                if torch.is_tensor(v)]
    if trainer.ema is not None:
        tensors += list(trainer.ema.parameters())
    tiny = torch.finfo(torch.float32).tiny
    return sum(int(((t.abs() < tiny) & (t != 0)).sum()) for t in tensors if t.dtype == torch.float32)


def run_variant(preset: str, overrides: list[str], steps: int, seed: int, root: Path) -> dict[str, Any]:
    """One stopped run of ``preset`` with ``overrides``: seconds per part (see the module's docstring)."""
    cfg = config.resolve(preset, overrides=[*overrides, "run.threads=1", f"run.seed={seed}", f"run.out_dir={root}",
                                            "run.name=split", "train.progress=false"])
    timers = Timers()
    began = time.perf_counter()
    split = _Split(timers, steps, began)
    original_noise, original_std = regularizers.add_instance_noise, remedies.MinibatchStd.forward
    original_build = api.build_trainer

    def build(cfg: Any, run: Any, callbacks: Any = None) -> Any:
        trainer = original_build(cfg, run, None)  # the default callbacks, as `gankit train` gets them
        trainer.callbacks.append(split)
        return trainer

    regularizers.add_instance_noise = timers.wrap("noise", original_noise)  # type: ignore[assignment]
    remedies.MinibatchStd.forward = timers.wrap("mbstd_fwd", original_std)  # type: ignore[method-assign]
    api.build_trainer = build  # type: ignore[assignment]
    try:
        api.train(cfg, overwrite=True)
    finally:
        regularizers.add_instance_noise = original_noise  # type: ignore[assignment]
        remedies.MinibatchStd.forward = original_std  # type: ignore[method-assign]
        api.build_trainer = original_build  # type: ignore[assignment]
    total = time.perf_counter() - began
    sec, calls = split.in_loop
    sec["end"] = total - (split.loop_end - began)
    loop = split.loop_end - split.loop_start
    inside = sum(v for k, v in sec.items() if k not in ("startup", "end", "noise", "mbstd_fwd"))
    sec["other"] = loop - inside
    sec["loop"], sec["total"] = loop, total
    return {"seconds": sec, "calls": calls, "steps": steps, "subnormals": subnormals(split.trainer)}


def profile_ops(preset: str, overrides: list[str], steps: int) -> dict[str, float]:
    """Self CPU milliseconds per op over ``steps`` D and G steps of a fresh recipe (warm-up excluded)."""
    from torch.profiler import ProfilerActivity, profile

    from gankit.data import build_dataset
    from gankit.train.build import recipe_class

    cfg = config.resolve(preset, overrides=[*overrides, "run.threads=1"])
    torch.set_num_threads(1)
    torch.manual_seed(0)
    data = build_dataset(cfg.data)
    recipe = recipe_class(cfg)(cfg, data.shape, "cpu")
    recipe.progress = 0.0
    recipe.stats_wanted = False
    batches = [data.sample(cfg.data.batch_size) for _ in range(2 * steps + 10)]
    for b in batches[:10]:
        recipe.d_step(b)
        recipe.g_step(b)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for i in range(steps):
            recipe.d_step(batches[10 + 2 * i])
            recipe.g_step(batches[11 + 2 * i])
    return {e.key: e.self_cpu_time_total / 1000.0 / steps for e in prof.key_averages()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="dcgan-shapes")
    ap.add_argument("--steps", type=int, default=400, help="generator steps timed per run")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--variant", action="append", required=True, metavar="NAME:KEY=VALUE ...",
                    help="a name, a colon and the overrides (space-separated; none: the preset as it is)")
    ap.add_argument("--time-variants", nargs="+", metavar="NAME", help="the variants timed whole (default: all)")
    ap.add_argument("--profile-steps", type=int, default=0, help="also profile N recipe steps per variant by op")
    ap.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True) for every run")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    variants = [(v.split(":", 1)[0], v.split(":", 1)[1].split() if ":" in v else []) for v in args.variant]
    timed = [v for v in variants if not args.time_variants or v[0] in args.time_variants]
    order = []
    for r in range(args.rounds):
        order += timed if r % 2 == 0 else timed[::-1]  # ABBA: a drift in load hits both alike
    results: dict[str, list[dict[str, Any]]] = defaultdict(list)
    with tempfile.TemporaryDirectory() as tmp:
        for name, ov in order:
            res = run_variant(args.preset, ov, args.steps, args.seed, Path(tmp))
            results[name].append(res)
            print(f"{name}: {res['seconds']['total']:.1f} s, loop {res['seconds']['loop']:.1f} s "
                  f"({1000 * res['seconds']['loop'] / args.steps:.1f} ms/step), {res['subnormals']} subnormal values "
                  f"in weights, gradients and optimiser states", flush=True)
    parts = sorted({k for rs in results.values() for r in rs for k in r["seconds"]},
                   key=lambda k: -max(sum(r["seconds"].get(k, 0) for r in rs) / len(rs) for rs in results.values()))
    names = [n for n, _ in timed]
    print(f"\nms per generator step over {args.steps} steps (mean of {args.rounds} rounds; startup, end and total: "
          f"seconds per run); one torch thread\n")
    print("| part | calls per run | " + " | ".join(names) + " |")
    print("|---|---|" + "---|" * len(names))
    for k in parts:
        whole = k in ("startup", "end", "total")
        cells = []
        for n in names:
            v = sum(r["seconds"].get(k, 0.0) for r in results[n]) / len(results[n])
            cells.append(f"{v:.2f} s" if whole else f"{1000 * v / args.steps:.2f}")
        calls = max((r["calls"].get(k, 0) for rs in results.values() for r in rs), default=0)
        print(f"| {k} | {calls or '–'} | " + " | ".join(cells) + " |")
    profiles: dict[str, dict[str, float]] = {}
    if args.profile_steps:
        for name, ov in variants:
            profiles[name] = profile_ops(args.preset, ov, args.profile_steps)
        names = [n for n, _ in variants]
        a, b = names[0], names[-1]
        keys = set(profiles[a]) | set(profiles[b])
        diff = sorted(keys, key=lambda k: -abs(profiles[b].get(k, 0.0) - profiles[a].get(k, 0.0)))
        print(f"\nself CPU ms per step (D + G) by op over {args.profile_steps} steps; largest differences {b} - {a}\n")
        print("| op | " + " | ".join(names) + f" | {b} − {a} |")
        print("|---|" + "---|" * (len(names) + 1))
        for k in diff[:25]:
            print(f"| {k} | " + " | ".join(f"{profiles[n].get(k, 0.0):.3f}" for n in names)
                  + f" | {profiles[b].get(k, 0.0) - profiles[a].get(k, 0.0):+.3f} |")
        print("| (all ops) | " + " | ".join(f"{sum(profiles[n].values()):.2f}" for n in names) + " | |")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / f"step-split-{args.preset}.json").write_text(json.dumps(
        {"args": vars(args), "results": results, "profiles": profiles}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
