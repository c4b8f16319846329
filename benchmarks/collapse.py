"""Mode collapse on ring8 and grid25: every remedy of issue 5, 5 seeds each, the docs/protocols.md protocol.

Each (row, seed) is one whole ``gankit train`` process on ``--threads`` torch threads (default 1; its wall
time is what a user waits for); ``--jobs`` of them run at once (default 2, for this machine's 2 cores). Scored on
2,500 samples: modes covered, % high quality, mode KL, W1. Results are cached per (row, seed) in
benchmarks/out/collapse-<data>.json, so an interrupted benchmark continues where it stopped.

    python benchmarks/collapse.py --data ring8                 # all rows, 5 seeds
    python benchmarks/collapse.py --data grid25 --rows nsgan pacgan4
    python benchmarks/collapse.py --data grid25 --rows best --jobs 1 --threads 2 --fresh   # timed alone
    python benchmarks/collapse.py --data ring8 --list          # the rows and their overrides
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from toy import cell, mean_se, run_seed  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"

# (row, label, preset, overrides). Every row keeps its preset's networks and budget unless it says otherwise.
ROWS: dict[str, list[tuple[str, str, str, list[str]]]] = {
    "ring8": [
        ("veegan-nsgan",
         "GAN, VEEGAN-style nets (2×128 tanh, Adam 1e-4 G / 1e-3 D, β (0.9, 0.999), batch 512, 10k steps, no EMA)",
         "ring8-veegan", ["g_optim.betas=[0.9,0.999]", "d_optim.betas=[0.9,0.999]"]),
        ("mmgan", "MMGAN (saturating)", "ring8-mmgan", []),
        ("nsgan", "NSGAN (non-saturating)", "ring8", []),
        ("wgan", "WGAN (clipping 0.01, RMSProp 5e-5, n_critic 5)", "ring8-wgan", []),
        ("wgan-gp", "WGAN-GP (λ 10, n_critic 5)", "ring8-wgan-gp", []),
        ("unrolled", "Unrolled GAN (K = 5), NSGAN, 3k steps", "ring8", ["model.unroll=5", "train.steps=3000"]),
        ("pacgan2", "PacGAN2, NSGAN", "ring8", ["model.pack=2"]),
        ("pacgan4", "PacGAN4, NSGAN", "ring8", ["model.pack=4"]),
        ("noise", "instance noise σ 0.05 → 0 (linear), NSGAN", "ring8",
         ["reg.instance_noise=0.05", "reg.schedule=linear"]),
        ("best", "**gankit best: PacGAN2, NSGAN, 12k steps**", "ring8", ["model.pack=2", "train.steps=12000"]),
        ("drs", "MMGAN + discriminator rejection sampling (1,000 calibration steps)", "ring8-mmgan",
         ["eval.rejection=1000"]),
    ],
    "grid25": [
        ("mmgan", "MMGAN (saturating)", "grid25", ["model.objective=mmgan"]),
        ("nsgan", "NSGAN (non-saturating)", "grid25", []),
        ("wgan", "WGAN (clipping 0.01, RMSProp 5e-5, n_critic 5, batch 64, 6k steps)", "grid25",
         ["model.objective=wgan", "reg.clip=0.01", "g_optim.name=rmsprop", "d_optim.name=rmsprop", "g_optim.lr=5e-5",
          "d_optim.lr=5e-5", "train.d_steps=5", "train.d_steps_schedule=wgan", "train.lr_schedule=constant",
          "data.batch_size=64", "train.steps=6000"]),
        ("wgan-gp", "WGAN-GP (λ 10, n_critic 5, Adam 1e-4 G / 1e-3 D, batch 256, 4k steps)", "grid25",
         ["model.objective=wgan", "reg.gradient_penalty=10", "g_optim.lr=1e-4", "d_optim.lr=1e-3",
          "g_optim.betas=[0.5,0.9]", "d_optim.betas=[0.5,0.9]", "train.d_steps=5", "train.d_steps_schedule=wgan",
          "train.steps=4000", "data.batch_size=256"]),
        ("unrolled", "Unrolled GAN (K = 5), NSGAN, 2k steps", "grid25", ["model.unroll=5", "train.steps=2000"]),
        ("pacgan2", "PacGAN2, NSGAN", "grid25", ["model.pack=2"]),
        ("pacgan4", "PacGAN4, NSGAN", "grid25", ["model.pack=4"]),
        ("noise", "instance noise σ 0.05 → 0 (linear), NSGAN", "grid25",
         ["reg.instance_noise=0.05", "reg.schedule=linear"]),
        ("best", "**gankit best: MMGAN, 11k steps + discriminator rejection sampling (1,000 calibration steps, "
                 "M = 99.9 % quantile)**", "grid25-drs", []),
    ],
}
KEYS = ("modes", "hq", "mode_kl", "w1", "wall_s")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", choices=sorted(ROWS), default="ring8")
    ap.add_argument("--rows", nargs="*", help="row names (default: all)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--jobs", type=int, default=2, help="runs at once")
    ap.add_argument("--threads", type=int, default=1,
                    help="torch threads per run (a run's wall time is what a user waits for: time the best row "
                         "alone with --jobs 1 --threads 2 to give one seed both cores)")
    ap.add_argument("--fresh", action="store_true", help="rerun the chosen rows even when cached")
    ap.add_argument("--list", action="store_true", help="print the rows and exit")
    args = ap.parse_args(argv)
    rows = ROWS[args.data]
    if args.list:
        for name, label, preset, ov in rows:
            print(f"{name:14s} {preset:14s} {' '.join(ov)}   # {label}")
        return 0
    chosen = [r for r in rows if not args.rows or r[0] in args.rows]
    unknown = set(args.rows or []) - {r[0] for r in rows}
    if unknown:
        ap.error(f"unknown rows {sorted(unknown)}; choose from {[r[0] for r in rows]}")
    OUT.mkdir(parents=True, exist_ok=True)
    cache_path = OUT / f"collapse-{args.data}.json"
    cache = {} if not cache_path.exists() else json.loads(cache_path.read_text())
    if args.fresh:  # only the chosen rows: the other rows' cached results stay
        cache = {k: v for k, v in cache.items() if k.split("/")[0] not in {r[0] for r in chosen}}
    tmp = Path(tempfile.mkdtemp(prefix="gankit-collapse-"))

    todo = [(name, preset, ov, seed) for name, _, preset, ov in chosen for seed in range(args.seeds)
            if f"{name}/{seed}" not in cache or cache[f"{name}/{seed}"].get("overrides") != [preset, *ov]
            or cache[f"{name}/{seed}"].get("threads", 1) != args.threads]  # wall times on other threads: rerun

    def work(item: tuple[str, str, list[str], int]) -> None:
        name, preset, ov, seed = item
        # runs go to tmp/<row>/<preset>-s<seed>
        res = run_seed(preset, seed, list(ov), tmp / name, threads=args.threads)
        res["overrides"], res["threads"], res["jobs"] = [preset, *ov], args.threads, args.jobs
        cache[f"{name}/{seed}"] = res
        cache_path.write_text(json.dumps(cache, indent=1))  # one thread at a time holds the GIL here
        print(f"{name} seed {seed}: modes {res['modes']}, hq {res['hq']}, kl {res['mode_kl']}, {res['wall_s']} s",
              flush=True)

    with ThreadPoolExecutor(max_workers=args.jobs) as pool:
        list(pool.map(work, todo))

    print(f"\n{args.data}, {args.seeds} seeds, mean ± s.e. (max wall s over seeds)")
    print("| row | modes | % HQ | mode KL | W1 | wall s (max) |")
    print("|---|---|---|---|---|---|")
    for name, label, _preset, _ov in chosen:
        res = [cache[f"{name}/{s}"] for s in range(args.seeds) if f"{name}/{s}" in cache]
        if not res:
            continue
        stat = {k: mean_se([r[k] for r in res]) for k in KEYS}
        cells = " | ".join(cell(stat[k], d) for k, d in (("modes", 2), ("hq", 1), ("mode_kl", 3), ("w1", 3)))
        fails = sum("failed" in r for r in res)
        note = f" ({fails} failed)" if fails else ""
        print(f"| {label}{note} | {cells} | {stat['wall_s'][0]:.0f} ({max(r['wall_s'] for r in res):.0f}) |")
    for name, _label, _preset, _ov in chosen:  # rejection-sampled rows: what the same generators give without it
        res = [cache[f"{name}/{s}"] for s in range(args.seeds) if "plain" in cache.get(f"{name}/{s}", {})]
        if res:
            plain = {k: mean_se([r["plain"][k] for r in res]) for k in ("modes", "hq", "mode_kl", "w1")}
            acc = mean_se([100 * r["acceptance"] for r in res])
            print(f"{name}: acceptance {acc[0]:.2f} ± {acc[1]:.2f} %; without rejection: " +
                  ", ".join(f"{k} {v[0]:.3g} ± {v[1]:.2g}" for k, v in plain.items()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
