"""Toy benchmark: train a preset over several seeds and report the docs/protocols.md mode metrics.

Each seed is one whole ``gankit train`` process, so the wall time includes start-up, figures and the
final evaluation (2,500 samples: modes covered, % high quality, mode KL; Wasserstein-1 to real data).

    python benchmarks/toy.py                                   # ring8 (the default main job), 5 seeds
    python benchmarks/toy.py --preset ring8-veegan --seeds 3   # the VEEGAN-network baseline
    python benchmarks/toy.py --preset grid25 -- train.steps=20000

Writes benchmarks/out/toy-<preset>.json and prints a Markdown table (mean ± standard error over seeds).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
KEYS = ("modes", "hq", "mode_kl", "w1")


def mean_se(values: list[float]) -> tuple[float, float]:
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, float("nan")
    var = sum((v - m) ** 2 for v in values) / (n - 1)
    return m, math.sqrt(var / n)


def cell(mean_and_se: tuple[float, float], digits: int) -> str:
    """One table cell, "mean ± s.e." to `digits` decimals."""
    return "{:.{d}f} ± {:.{d}f}".format(*mean_and_se, d=digits)


def run_seed(preset: str, seed: int, overrides: list[str], out_dir: Path, threads: int) -> dict:
    cmd = [sys.executable, "-m", "gankit", "-q", "train", preset, f"run.seed={seed}", f"run.name={preset}-s{seed}",
           f"run.out_dir={out_dir}", "train.progress=false", f"run.threads={threads}", *overrides]
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    wall = time.perf_counter() - t0
    run = out_dir / f"{preset}-s{seed}"
    if proc.returncode != 0:  # e.g. a non-finite loss: recorded as a failed run, scored as total failure
        last = (proc.stderr.strip().splitlines() or ["(no message)"])[-1]
        return {"seed": seed, "wall_s": round(wall, 1), "train_s": float("nan"), "steps": 0, "failed": last,
                "modes": 0.0, "hq": 0.0, "mode_kl": float("nan"), "w1": float("nan")}
    metrics = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()][-1]
    stats = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    # a run with eval.rejection also scored discriminator-rejection samples: those are its numbers
    if "drs_acceptance" in metrics and "drs_modes" not in metrics:  # rejection sampling gave up: a failed row
        return {"seed": seed, "wall_s": round(wall, 1), "train_s": stats[-1]["time"], "steps": stats[-1]["step"],
                "failed": "rejection sampling accepted too few samples", "modes": 0.0, "hq": 0.0,
                "mode_kl": float("nan"), "w1": float("nan")}
    prefix = "drs_" if "drs_modes" in metrics else ""
    extra = {"acceptance": metrics["drs_acceptance"], "plain": {k: metrics[k] for k in KEYS}} if prefix else {}
    return {"seed": seed, "wall_s": round(wall, 1), "train_s": stats[-1]["time"], "steps": stats[-1]["step"],
            **{k: metrics[prefix + k] for k in KEYS if prefix + k in metrics}, **extra}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="ring8")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run (the machine has 2 cores)")
    ap.add_argument("--tag", default="", help="name of the output file (default: the preset)")
    ap.add_argument("--keep", action="store_true", help="keep the run directories (under benchmarks/out/runs)")
    ap.add_argument("overrides", nargs="*", help="section.key=value overrides for every seed")
    args = ap.parse_args()

    out = ROOT / "benchmarks" / "out"
    out.mkdir(parents=True, exist_ok=True)
    tmp = out / "runs" if args.keep else Path(tempfile.mkdtemp(prefix="gankit-bench-"))
    rows = []
    for seed in range(args.seeds):
        row = run_seed(args.preset, seed, args.overrides, tmp, args.threads)
        rows.append(row)
        print(f"seed {seed}: " + ", ".join(f"{k} {v}" for k, v in row.items() if k != "seed"), flush=True)
    summary = {k: mean_se([r[k] for r in rows]) for k in (*KEYS, "wall_s", "train_s")}
    failures = [f"seed {r['seed']}: {r['failed']}" for r in rows if "failed" in r]
    result = {
        "preset": args.preset, "overrides": args.overrides, "seeds": args.seeds, "threads": args.threads,
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version(), "platform": platform.platform()},
        "rows": rows, "summary": summary, "failures": failures,
    }
    tag = args.tag or args.preset
    (out / f"toy-{tag}.json").write_text(json.dumps(result, indent=2))

    print(f"\n| {tag} | modes | % HQ | mode KL | W1 | wall s (whole command) |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| seed {r['seed']} | {r['modes']:.0f} | {r['hq']:.1f} | {r['mode_kl']:.3f} | {r['w1']:.4f} | "
              f"{r['wall_s']:.0f} |")
    for line in failures:
        print(f"failed: {line}")
    digits = (("modes", 2), ("hq", 1), ("mode_kl", 3), ("w1", 4), ("wall_s", 0))
    cells = " | ".join(cell(summary[k], d) for k, d in digits)
    print(f"| **mean ± s.e.** | {cells} |")


if __name__ == "__main__":
    main()
