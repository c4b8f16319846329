"""``gankit lab`` in a real browser: frames per second, training steps per second, step latency (issue 18).

    python benchmarks/lab.py [--seconds 20] [--steps 3000] [--presses 20]

The experiment is the lab's default: ring8, 2-D normal noise, 64 x 3 ReLU nets, NSGAN, Adam 1e-3, batch 256,
one torch thread. Measured, in this order:

1. ``gankit train`` alone: the same config (the lab's own ``build_config``) trained by ``Trainer.fit``
   for ``--steps`` steps without figures; steps/s = steps / wall time of ``fit``.
2. The lab playing with no page open, for ``--seconds``: steps/s from the session's step counter.
3. The lab playing with the page open in headless Chromium (the browser tests' DevTools driver), for
   ``--seconds``: steps/s as in 2, and the page's frames per second (views fetched and drawn, from
   ``window.labStats.frames``). The lab must keep >= 80 % of 1.
4. Paused, ``--presses`` presses of "D step": the time from the click to the redrawn view with the new
   counter, measured in the page (``window.labStats.latencies``); the median.

Results: a Markdown table on stdout and benchmarks/out/lab.json.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "benchmarks" / "out"
sys.path.insert(0, str(ROOT / "src"))

from gankit import api  # noqa: E402
from gankit.serve.lab import DEFAULTS, build_config, check_settings, make_lab_server  # noqa: E402
from gankit.serve.server import url_of  # noqa: E402
from gankit.train.rundir import RunDir  # noqa: E402


def browser_tools():
    """The browser tests' Chromium flags and DevTools page driver (tests/serve/conftest.py), loaded by path."""
    sys.path.insert(0, str(ROOT / "tests"))
    spec = importlib.util.spec_from_file_location("serve_conftest", ROOT / "tests" / "serve" / "conftest.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trainer_alone(steps: int, work: Path) -> float:
    cfg = build_config(check_settings({"train.steps": steps}), work / "alone")
    cfg.run.out_dir, cfg.train.checkpoint_every = str(work), steps
    run = RunDir(work / "alone")
    run.root.mkdir(parents=True, exist_ok=True)
    trainer = api.build_trainer(cfg, run, callbacks=[])
    t0 = time.perf_counter()
    trainer.fit()
    return steps / (time.perf_counter() - t0)


def play_rate(lab, seconds: float, page=None) -> tuple[float, float]:
    """(steps/s, frames/s) of ``seconds`` of play after a second of warm-up."""
    lab.command({"cmd": "play"})
    time.sleep(1.0)
    s0, f0, t0 = lab.session.trainer.step, page.eval("window.labStats.frames") if page else 0, time.perf_counter()
    time.sleep(seconds)
    s1, f1, t1 = lab.session.trainer.step, page.eval("window.labStats.frames") if page else 0, time.perf_counter()
    lab.command({"cmd": "pause"})
    return (s1 - s0) / (t1 - t0), (f1 - f0) / (t1 - t0)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=20.0)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--presses", type=int, default=20)
    args = ap.parse_args()
    torch.set_num_threads(1)
    tools = browser_tools()
    if tools.CHROMIUM is None:
        sys.exit("no chromium binary (Debian's 'chromium' package)")
    work = Path(tempfile.mkdtemp(prefix="gankit-lab-bench-"))
    profile = tempfile.mkdtemp(prefix="gankit-chromium-")
    proc = None
    server = make_lab_server(work / "runs", port=0, workdir=work / "lab")
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    lab = server.lab
    try:
        alone = trainer_alone(args.steps, work)
        no_page, _ = play_rate(lab, args.seconds)
        proc = subprocess.Popen([tools.CHROMIUM, *tools.CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(profile) / "DevToolsActivePort"
        while not (port_file.is_file() and port_file.read_text().strip()):
            time.sleep(0.05)
        devtools = f"http://127.0.0.1:{port_file.read_text().split()[0]}"
        with urllib.request.urlopen(urllib.request.Request(f"{devtools}/json/new?about:blank", method="PUT")) as r:
            page = tools.Page(json.loads(r.read())["webSocketDebuggerUrl"])
        page.call("Page.enable")
        page.call("Runtime.enable")
        page.goto(url_of(server))
        page.wait_for("document.querySelector('#counter').dataset.step !== undefined", timeout=30)
        with_page, fps = play_rate(lab, args.seconds, page)
        page.wait_for("document.querySelector('#counter').dataset.playing === 'false'")
        latencies = []
        for _ in range(args.presses):
            n = page.eval("window.labStats.latencies.length")
            page.eval("document.querySelector('#step-d').click()")
            page.wait_for(f"window.labStats.latencies.length > {n}")
            latencies.append(page.eval("window.labStats.lastLatencyMs"))
        page.close()
    finally:
        server.shutdown()
        server.server_close()
        lab.close()
        if proc is not None:
            proc.terminate()
            proc.wait(10)
        shutil.rmtree(profile, ignore_errors=True)
        shutil.rmtree(work, ignore_errors=True)
    result = {
        "config": {k: DEFAULTS[k] for k in ("data.name", "generator.noise_dim", "generator.width", "generator.depth",
                                              "model.objective", "data.batch_size")},
        "train_alone_steps_per_s": round(alone, 1), "lab_no_page_steps_per_s": round(no_page, 1),
        "lab_with_page_steps_per_s": round(with_page, 1), "lab_fraction_of_train": round(with_page / alone, 3),
        "frames_per_s": round(fps, 1), "step_latency_ms_median": round(statistics.median(latencies), 1),
        "step_latency_ms": [round(x, 1) for x in latencies], "cpus": torch.get_num_threads(),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "lab.json").write_text(json.dumps(result, indent=2) + "\n")
    print("| measure | value |\n|---|---|")
    print(f"| `gankit train` alone, steps/s | {result['train_alone_steps_per_s']} |")
    print(f"| lab playing, no page, steps/s | {result['lab_no_page_steps_per_s']} |")
    print(f"| lab playing, page open, steps/s | {result['lab_with_page_steps_per_s']} "
          f"({100 * result['lab_fraction_of_train']:.0f} % of train) |")
    print(f"| live view, frames/s | {result['frames_per_s']} |")
    print(f"| 'D step' to redrawn view, median of {args.presses}, ms | {result['step_latency_ms_median']} |")


if __name__ == "__main__":
    main()
