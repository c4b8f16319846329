"""Latency of ``gankit serve`` under many concurrent clients on loopback (issue 16).

    python benchmarks/serve_latency.py [--clients 50 200] [--requests 2000] [--backlog 1024 5]

A made-up runs folder (three runs: 2,000 stats lines, metrics, alarms, a toy snapshot of 512 points and a
60 x 60 grid, sample grids) is served by a ``gankit serve`` subprocess on 127.0.0.1 with the given listen
backlog (1024: gankit's ``BACKLOG``; 5: the standard library's default, as before issue 16). Asyncio clients
in this process, ``--clients`` at a time, send ``--requests`` requests in all, cycling through what the page
asks once a second per pane: the run list, the stats/metrics/alarms since the last poll, the frames and a
snapshot. Each request opens a connection, sends, and reads the whole answer; its latency runs from the
connect to the last byte. Bounded and self-stopping: every request has a ``--timeout`` (a timed-out one
counts as an error), each level has a ``--deadline``, and the server is stopped at the end whatever happens.

Results: a Markdown table on stdout (p50, p99, max latency in ms, requests/s, errors) and
benchmarks/out/serve_latency.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import numpy as np
from PIL import Image

OUT = Path(__file__).resolve().parent / "out"
SERVER = """
import sys
from gankit.serve import server
server.DashboardServer.request_queue_size = int(sys.argv[2])
srv = server.make_server(sys.argv[1], port=0)
print(server.url_of(srv), flush=True)
srv.serve_forever(poll_interval=0.2)
"""


def make_runs(root: Path, runs: int = 3, lines: int = 2000) -> list[str]:
    """A runs folder like a toy sweep's; returns the request paths a polling page sends."""
    rng = np.random.default_rng(0)
    paths = ["/api/runs"]
    for i in range(runs):
        run = root / f"run{i}"
        (run / "snapshots").mkdir(parents=True)
        (run / "samples").mkdir()
        (run / "config.yaml").write_text(f"run:\n  name: run{i}\ndata:\n  name: ring8\ntrain:\n  steps: 20000\n")
        with open(run / "stats.jsonl", "w") as f:
            for s in range(1, lines + 1):
                f.write(json.dumps({"step": 10 * s, "d_loss": 1.3, "g_loss": 0.7, "d_real": 0.55, "d_fake": 0.45,
                                    "d_grad_norm": 0.1, "g_grad_norm": 0.2, "lr_g": 1e-3, "lr_d": 1e-3}) + "\n")
        metrics = ({"step": 1000 * k, "modes": 8, "hq": 0.9, "w1": 0.1} for k in range(1, 21))
        (run / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
        (run / "alarms.jsonl").write_text("")
        for step in (10000, 20000):
            pts = rng.normal(size=(512, 2)).round(5).tolist()
            grid = np.linspace(-3, 3, 60).round(5).tolist()
            snap = {"step": step, "dim": 2, "bounds": [[-3, 3], [-3, 3]], "real": pts, "fake": pts, "arrows": pts,
                    "grid": {"x": grid, "y": grid, "d": rng.uniform(size=(60, 60)).round(5).tolist()}}
            (run / "snapshots" / f"step-{step:06d}.json").write_text(json.dumps(snap))
            pixels = rng.integers(0, 255, (64, 64), dtype=np.uint8)
            Image.fromarray(pixels).save(run / "samples" / f"step-{step:06d}.png")
        tail = {}
        for log in ("stats", "metrics", "alarms"):
            st = os.stat(run / f"{log}.jsonl")
            tail[log] = f"/api/{log}?run=run{i}&offset={st.st_size}&ino={st.st_ino}"
        paths += [tail["stats"], tail["metrics"], tail["alarms"], f"/api/frames?run=run{i}",
                  f"/api/snapshot?run=run{i}&step=20000"]
    return paths


async def one(host: str, port: int, path: str, timeout: float) -> tuple[float, bool]:
    """Latency in seconds of one request and whether it was answered 200 in time."""
    t = time.perf_counter()
    writer = None
    try:
        async def exchange() -> bytes:
            nonlocal writer
            reader, writer = await asyncio.open_connection(host, port)
            writer.write(f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
            await writer.drain()
            return await reader.read()  # to EOF: the server closes after each answer

        data = await asyncio.wait_for(exchange(), timeout)
        ok = data.startswith(b"HTTP/1.0 200") or data.startswith(b"HTTP/1.1 200")
    except (TimeoutError, OSError):
        ok = False
    finally:
        if writer is not None:
            writer.close()
    return time.perf_counter() - t, ok


async def level(url: str, paths: list[str], clients: int, requests: int, timeout: float, deadline: float) -> dict:
    """``requests`` requests by ``clients`` concurrent workers; stops at ``deadline`` seconds."""
    u = urlsplit(url)
    latencies: list[float] = []
    errors = 0
    counter = iter(range(requests))
    end = time.monotonic() + deadline

    async def worker() -> None:
        nonlocal errors
        for i in counter:
            if time.monotonic() > end:
                return
            lat, ok = await one(u.hostname, u.port, paths[i % len(paths)], timeout)
            if ok:
                latencies.append(lat)
            else:
                errors += 1

    t = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(clients)))
    wall = time.perf_counter() - t
    ms = np.array(latencies) * 1000 if latencies else np.array([float("nan")])
    return {"clients": clients, "requests": len(latencies) + errors, "ok": len(latencies), "errors": errors,
            "p50_ms": float(np.percentile(ms, 50)), "p99_ms": float(np.percentile(ms, 99)), "max_ms": float(ms.max()),
            "req_per_s": len(latencies) / wall, "wall_s": wall}


def serve(root: Path, backlog: int) -> tuple[subprocess.Popen, str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).resolve().parents[1] / "src"),
                                                           os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-c", SERVER, str(root), str(backlog)], stdout=subprocess.PIPE, text=True,
                            env=env)
    url = proc.stdout.readline().strip()
    if not url.startswith("http://127.0.0.1:"):
        proc.kill()
        raise SystemExit(f"serve_latency: the server did not start (printed {url!r})")
    return proc, url


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--clients", type=int, nargs="+", default=[50, 200])
    ap.add_argument("--requests", type=int, default=2000, help="requests per level (default 2000)")
    ap.add_argument("--backlog", type=int, nargs="+", default=[1024], help="listen backlogs to compare (5: before)")
    ap.add_argument("--timeout", type=float, default=60.0, help="seconds per request (default 60)")
    ap.add_argument("--deadline", type=float, default=120.0, help="seconds per level (default 120)")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gankit-serve-latency-") as tmp:
        paths = make_runs(Path(tmp))
        for backlog in args.backlog:
            proc, url = serve(Path(tmp), backlog)
            try:
                asyncio.run(level(url, paths, 10, 100, args.timeout, args.deadline))  # warm up
                for clients in args.clients:
                    row = {"backlog": backlog, **asyncio.run(level(url, paths, clients, args.requests, args.timeout,
                                                                      args.deadline))}
                    rows.append(row)
                    print(json.dumps(row), file=sys.stderr, flush=True)
            finally:
                proc.terminate()
                try:
                    proc.wait(10)
                except subprocess.TimeoutExpired:
                    proc.kill()
    OUT.mkdir(exist_ok=True)
    (OUT / "serve_latency.json").write_text(json.dumps({"paths": paths, "rows": rows}, indent=1))
    print("| backlog | clients | requests | errors | p50 ms | p99 ms | max ms | req/s |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['backlog']} | {r['clients']} | {r['ok']} | {r['errors']} | {r['p50_ms']:.0f} | {r['p99_ms']:.0f} "
              f"| {r['max_ms']:.0f} | {r['req_per_s']:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
