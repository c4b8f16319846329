"""The Python half of benchmarks/gpu_check.sh: look at the environment, make an MNIST cache, record stages.

    python benchmarks/gpu_check.py env [--cpu-smoke]              JSON on stdout; exit 0 usable, 3 no CUDA, 4 no torch
    python benchmarks/gpu_check.py mnist-cache DIR                 IDX files from tests/fixtures/mnist-test-1000.npz
    python benchmarks/gpu_check.py record OUT STAGE --rc RC --seconds S [--note TEXT] [--json FILE] [--run DIR]
    python benchmarks/gpu_check.py header OUT --mode MODE [--env FILE] [--note TEXT]

``record`` appends one stage to OUT/gpu-check.json and rewrites OUT/gpu-check.md from it, so the results
file is complete up to the last finished stage whatever stops the script later. ``--run DIR`` adds a
training run's scores: the last metrics.jsonl line (with its real-vs-real floor), the steps reached and
the generator steps per second of training (stats.jsonl's clock). Only the standard library and numpy are
imported at the top, so ``env`` can report a missing torch instead of failing on it.
"""

from __future__ import annotations

import argparse
import fcntl
import importlib
import json
import os
import platform
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
FIXTURE = REPO / "tests" / "fixtures" / "mnist-test-1000.npz"
RESULTS_JSON = "gpu-check.json"
RESULTS_MD = "gpu-check.md"
# import name -> requirements.txt name, besides torch (checked by ``env``)
MODULES = {"numpy": "numpy", "scipy": "scipy", "sklearn": "scikit-learn", "matplotlib": "matplotlib",
           "tqdm": "tqdm", "safetensors": "safetensors", "yaml": "PyYAML", "PIL": "pillow", "ot": "POT",
           "pytest": "pytest"}
SCORE_KEYS = ("fid", "fid_n", "is", "kid", "precision", "recall", "class_accuracy", "modes", "hq", "w1")


def environment(cpu_smoke: bool) -> tuple[dict, int]:
    """What this Python offers: versions, missing modules, CUDA and NCCL. Code 0 usable, 3 no CUDA, 4 no torch."""
    info: dict = {"python": sys.executable, "python_version": platform.python_version(),
                  "host": platform.node(), "missing": []}
    for mod, req in MODULES.items():
        try:
            importlib.import_module(mod)
        except Exception:  # noqa: BLE001 (any failure to import counts as missing)
            info["missing"].append(req)
    info["xdist"] = importlib.util.find_spec("xdist") is not None
    try:
        import torch
    except Exception as exc:  # noqa: BLE001
        info["torch"] = f"not importable: {type(exc).__name__}: {exc}"
        return info, 4
    info["torch"] = torch.__version__
    info["torch_cuda_build"] = torch.version.cuda
    info["cuda_available"] = torch.cuda.is_available()
    if info["cuda_available"]:
        props = torch.cuda.get_device_properties(0)
        info["gpu"] = props.name
        info["gpu_count"] = torch.cuda.device_count()
        info["gpu_memory_gib"] = round(props.total_memory / 2**30, 1)
        info["capability"] = f"{props.major}.{props.minor}"
        info["nccl"] = torch.distributed.is_available() and torch.distributed.is_nccl_available()
        try:
            info["nccl_version"] = ".".join(map(str, torch.cuda.nccl.version()))
        except Exception:  # noqa: BLE001
            pass
    if not cpu_smoke and not info["cuda_available"]:
        return info, 3
    return info, 0


def mnist_cache(root: Path, n_train: int = 800) -> Path:
    """Write the four MNIST IDX files of a data cache from the 1,000 shipped test digits (800 'train',
    200 'test'), as tests/conftest.py's ``mnist_cache`` fixture does; returns the cache root."""
    import numpy as np

    sys.path.insert(0, str(REPO / "src"))
    from gankit.data.images import write_idx

    with np.load(FIXTURE) as f:
        x, y = f["x"][:, 0], f["y"]
    for prefix, sl in (("train", slice(0, n_train)), ("t10k", slice(n_train, len(x)))):
        write_idx(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz", np.ascontiguousarray(x[sl]))
        write_idx(root / "mnist" / f"{prefix}-labels-idx1-ubyte.gz", np.ascontiguousarray(y[sl].astype(np.uint8)))
    return root


def _jsonl(path: Path) -> list[dict]:
    rows = []
    if path.is_file():
        for line in path.read_text().splitlines():
            try:
                rows.append(json.loads(line))
            except json.JSONDecodeError:
                pass  # a line torn by the stage's timeout
    return rows


def run_scores(run: Path) -> dict:
    """A training run's last metrics line, its floor, the steps reached and training steps per second."""
    stats, metrics = _jsonl(run / "stats.jsonl"), _jsonl(run / "metrics.jsonl")
    out: dict = {"run": str(run)}
    if stats:
        last = stats[-1]
        out["steps"] = last.get("step")
        if last.get("time"):
            out["steps_per_s"] = round(last["step"] / last["time"], 1)  # at the last logged step
    if metrics:
        out["steps"] = metrics[-1].get("step", out.get("steps"))  # the end of training (after the last log line)
        out["metrics"] = {k: v for k, v in metrics[-1].items() if k in SCORE_KEYS or k == "step"}
        floor = metrics[-1].get("floor")
        if isinstance(floor, dict):
            out["floor"] = {k: v for k, v in floor.items() if k in SCORE_KEYS or k == "kind"}
    return out


def _load(out: Path) -> dict:
    path = out / RESULTS_JSON
    return json.loads(path.read_text()) if path.is_file() else {"stages": []}


def _fmt(v: object) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def render(results: dict) -> str:
    """The Markdown view of the results: the environment, then one row per stage and its details."""
    lines = ["# gankit GPU check", "", f"mode: {results.get('mode', '?')}; started {results.get('started', '?')}", ""]
    for note in results.get("notes", []):
        lines.append(f"- {note}")
    env = results.get("env") or {}
    if env:
        lines += ["", "| environment | |", "|---|---|"]
        lines += [f"| {k} | {_fmt(v)} |" for k, v in env.items()]
    lines += ["", "| stage | result | seconds | note |", "|---|---|---|---|"]
    for s in results["stages"]:
        verdict = "ok" if s["rc"] == 0 else ("timed out" if s["rc"] in (124, 137) else f"failed (rc {s['rc']})")
        lines.append(f"| {s['stage']} | {verdict} | {s['seconds']:.0f} | {s.get('note', '')} |")
    for s in results["stages"]:
        for key in ("scores", "data"):
            if s.get(key):
                lines += ["", f"## {s['stage']} ({key})", "", "```", json.dumps(s[key], indent=1), "```"]
    total = sum(s["seconds"] for s in results["stages"])
    lines += ["", f"total stage time: {total:.0f} s", ""]
    return "\n".join(lines)


def _write(out: Path, results: dict) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for name, text in ((RESULTS_JSON, json.dumps(results, indent=1) + "\n"), (RESULTS_MD, render(results))):
        tmp = out / f".{name}.tmp"
        tmp.write_text(text)
        os.replace(tmp, out / name)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    e = sub.add_parser("env", help="JSON about this Python's torch, CUDA, NCCL and missing modules")
    e.add_argument("--cpu-smoke", action="store_true", help="a CPU-only torch is usable (dry run)")
    m = sub.add_parser("mnist-cache", help="MNIST IDX files from the shipped 1,000 test digits")
    m.add_argument("root", type=Path)
    h = sub.add_parser("header", help="start the results file")
    h.add_argument("out", type=Path)
    h.add_argument("--mode", required=True, choices=["gpu", "cpu-smoke"])
    h.add_argument("--env", type=Path, help="the JSON printed by 'env'")
    h.add_argument("--note", action="append", default=[])
    r = sub.add_parser("record", help="append one stage to the results file")
    r.add_argument("out", type=Path)
    r.add_argument("stage")
    r.add_argument("--rc", type=int, required=True)
    r.add_argument("--seconds", type=float, required=True)
    r.add_argument("--note", default="")
    r.add_argument("--json", type=Path, help="a JSON file of the stage's numbers (e.g. speed.py --out)")
    r.add_argument("--run", type=Path, help="a training run directory: its scores")
    args = ap.parse_args(argv)

    if args.cmd == "env":
        info, code = environment(args.cpu_smoke)
        print(json.dumps(info))
        return code
    if args.cmd == "mnist-cache":
        print(mnist_cache(args.root))
        return 0
    if args.cmd == "header":
        results = {"mode": args.mode, "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"), "notes": args.note,
                   "env": json.loads(args.env.read_text()) if args.env and args.env.is_file() else {},
                   "stages": []}
        _write(args.out, results)
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / ".lock", "w") as lock:  # the two training stages may finish at the same moment
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _record(args)


def _record(args: argparse.Namespace) -> int:
    results = _load(args.out)
    stage: dict = {"stage": args.stage, "rc": args.rc, "seconds": round(args.seconds, 1), "note": args.note}
    if args.json is not None:
        try:
            stage["data"] = json.loads(args.json.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            stage["data"] = {"error": f"{args.json}: {exc}"}
    if args.run is not None:
        stage["scores"] = run_scores(args.run)
    results["stages"].append(stage)
    _write(args.out, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
