"""`gankit eval --fake` on outside samples against `gankit eval RUN`: time, peak memory, identical metrics; and
gankit's FID/KID against torchmetrics on the same features.

    python benchmarks/eval_outside.py [--n 10000] [--steps 200] [--threads 1]

1. Trains a small dcgan-digits run (``--steps``), draws ``--n`` samples from it exactly as ``gankit eval`` does
   (seed eval.seed + 2), and writes them as a float .npy, as 8-bit PNG files (one folder) and as the same
   8-bit values in a uint8 .npy.
2. Runs, each in a fresh process whose peak RSS is read with ``resource.getrusage(RUSAGE_CHILDREN)``:
   ``gankit eval RUN``, ``gankit eval --fake RUN``, ``gankit eval --fake samples.npy --data digits``,
   ``gankit eval --fake pngs/ --data digits``, ``gankit eval --fake u8.npy --data digits`` (all ``-n N``,
   ``--metrics auto``, ``-o result.json``), and checks that the run and its float .npy give identical
   metrics, and the PNG folder and its uint8 .npy identical metrics (PNGs hold 8-bit values: they differ
   from the float samples by that rounding, reported as the largest relative difference).
3. FID and KID (one subset of all rows) of the generated samples against N reference digits, gankit's
   against torchmetrics' FrechetInceptionDistance / KernelInceptionDistance given the same features, on the
   digits classifier's and the random embedding's features: absolute and relative differences.

Writes ``benchmarks/out/eval-outside.json`` and prints Markdown tables for BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out" / "eval-outside.json"

MEASURE = """
import json, resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.call(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
print(json.dumps({"rc": rc, "seconds": time.perf_counter() - t,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


def measured(argv: list[str], env: dict[str, str]) -> dict[str, float]:
    out = subprocess.run([sys.executable, "-c", MEASURE, *argv], capture_output=True, text=True, env=env, check=True)
    return json.loads(out.stdout)


def gankit_eval(args: list[str], result: Path, env: dict[str, str], n: int) -> tuple[dict, dict]:
    m = measured([sys.executable, "-m", "gankit", "eval", *args, "-n", str(n), "--metrics", "auto",
                  "-o", str(result)], env)
    if m["rc"] != 0:
        raise SystemExit(f"gankit eval {' '.join(args)} failed (exit {m['rc']})")
    return m, json.loads(result.read_text())


def largest_rel_diff(a: dict, b: dict) -> float:
    return max(abs(a[k] - b[k]) / max(abs(b[k]), 1e-12) for k in a if k in b and not k.endswith("_n"))


def agreement(fake: torch.Tensor, real: torch.Tensor) -> list[dict]:
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    from gankit.metrics import features as F
    from gankit.metrics import images as im

    class Given(torch.nn.Module):
        def __init__(self, dim: int) -> None:
            super().__init__()
            self.num_features = dim

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x.double()

    rows = []
    for name in ("digits-classifier", "random-conv"):
        ext = F.get_extractor(name)
        ff, _ = ext(fake)
        fr, _ = ext(real)
        fid = FrechetInceptionDistance(feature=Given(ff.shape[1]), normalize=False)
        fid.set_dtype(torch.float64)
        fid.update(torch.from_numpy(fr), real=True)
        fid.update(torch.from_numpy(ff), real=False)
        theirs_fid, ours_fid = float(fid.compute()), im.fid_from_features(ff, fr)
        m = min(len(ff), len(fr), 2000)  # torchmetrics keeps every feature and builds m x m kernels
        kid = KernelInceptionDistance(feature=Given(ff.shape[1]), subsets=1, subset_size=m, normalize=False)
        kid.update(torch.from_numpy(fr[:m]), real=True)
        kid.update(torch.from_numpy(ff[:m]), real=False)
        theirs_kid = float(kid.compute()[0])
        ours_kid = im.kid(ff[:m], fr[:m], subsets=1, subset_size=m)[0]
        for metric, ours, theirs in (("fid", ours_fid, theirs_fid), (f"kid (one subset of {m})", ours_kid, theirs_kid)):
            rows.append({"features": name, "metric": metric, "gankit": ours, "torchmetrics": theirs,
                         "abs_diff": abs(ours - theirs), "rel_diff": abs(ours - theirs) / max(abs(theirs), 1e-300)})
    return rows


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    from PIL import Image

    from gankit import api
    from gankit.cli import main as gankit_main
    from gankit.data import build_dataset
    from gankit.data.reference import reference_sample

    env = {**os.environ, "PYTHONPATH": str(ROOT / "src"), "OMP_NUM_THREADS": str(args.threads)}
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        t0 = time.perf_counter()
        code = gankit_main(["train", "dcgan-digits", f"train.steps={args.steps}", "train.progress=false",
                            "train.sample_every=0", "train.checkpoint_every=100", "eval.metrics=[]",
                            f"run.threads={args.threads}", f"run.out_dir={tmp / 'runs'}"])
        if code != 0:
            return code
        print(f"trained dcgan-digits for {args.steps} steps in {time.perf_counter() - t0:.0f} s", flush=True)
        rd = tmp / "runs" / "dcgan-digits"
        net, cfg, _ = api.load_generator(rd)
        x, _ = api.sample_net_with_labels(net, args.n, seed=cfg.eval.seed + 2)
        np.save(tmp / "samples.npy", x)
        u8 = np.round((x + 1) * 127.5).clip(0, 255).astype(np.uint8)
        np.save(tmp / "u8.npy", u8)
        (tmp / "pngs").mkdir()
        for i, a in enumerate(u8):
            Image.fromarray(a[0]).save(tmp / "pngs" / f"{i:06d}.png")
        cases = {
            "gankit eval RUN": [str(rd)],
            "gankit eval --fake RUN": ["--fake", str(rd)],
            "--fake samples.npy --data digits": ["--fake", str(tmp / "samples.npy"), "--data", "digits"],
            f"--fake pngs/ ({args.n} PNGs) --data digits": ["--fake", str(tmp / "pngs"), "--data", "digits"],
            "--fake u8.npy --data digits": ["--fake", str(tmp / "u8.npy"), "--data", "digits"],
        }
        runs = {}
        for label, a in cases.items():
            m, res = gankit_eval(a, tmp / "r.json", env, args.n)
            runs[label] = {**m, "model": res["model"], "floor": res["floor"]}
            print(f"{label}: {m['seconds']:.1f} s, peak RSS {m['peak_rss_mib']:.0f} MiB", flush=True)
        labels = list(cases)
        same_run_npy = runs[labels[0]]["model"] == runs[labels[2]]["model"] == runs[labels[1]]["model"]
        png, u8 = runs[labels[3]], runs[labels[4]]
        same_png_u8 = png["model"] == u8["model"] and png["floor"] == u8["floor"]
        png_vs_run = largest_rel_diff(runs[labels[3]]["model"], runs[labels[0]]["model"])
        ds = build_dataset(cfg.data)
        real = reference_sample(ds, args.n, cfg.eval.seed + 3)
        rows = agreement(torch.from_numpy(x), real)
    result = {"n": args.n, "steps": args.steps, "threads": args.threads, "runs": runs,
              "identical_run_and_float_npy": same_run_npy, "identical_pngs_and_uint8_npy": same_png_u8,
              "pngs_vs_run_largest_rel_diff": png_vs_run, "agreement": rows, "torch": torch.__version__}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n| command (-n {args.n}, --metrics auto) | wall s | peak RSS MiB |\n|---|---|---|")
    for label, r in runs.items():
        print(f"| `{label}` | {r['seconds']:.1f} | {r['peak_rss_mib']:.0f} |")
    print(f"\nidentical metrics, run vs its float .npy: {same_run_npy}; PNG folder vs its uint8 .npy: {same_png_u8}; "
          f"PNG (8-bit) vs run: largest relative difference {png_vs_run:.2e}")
    print("\n| features | metric | gankit | torchmetrics | abs diff | rel diff |\n|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['features']} | {r['metric']} | {r['gankit']:.6g} | {r['torchmetrics']:.6g} | {r['abs_diff']:.2e} "
              f"| {r['rel_diff']:.2e} |")
    print(f"\nwrote {OUT}")
    return 0 if same_run_npy and same_png_u8 else 1


if __name__ == "__main__":
    raise SystemExit(main())
