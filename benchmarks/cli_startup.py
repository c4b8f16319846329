"""CLI start-up time: median wall time of ``gankit --help`` and ``gankit list`` over 10 fresh processes.

Each run is a new ``python -m gankit`` process (what the ``gankit`` script does: import gankit.cli, parse,
run the command), so the number is the import cost a user waits for before anything happens. Also reports
whether torch was imported, from ``python -X importtime``.

Usage: python benchmarks/cli_startup.py [--repeat 10] [--src OTHER/src]   (--src: time another checkout)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
COMMANDS = (["--help"], ["list"])


def env(src: Path) -> dict[str, str]:
    e = dict(os.environ)
    e["PYTHONPATH"] = os.pathsep.join([str(src), e.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    return e


def time_command(args: list[str], repeat: int, src: Path) -> list[float]:
    """Wall seconds of ``repeat`` fresh ``python -m gankit ARGS`` processes (output discarded)."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "gankit", *args], env=env(src), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return times


def imports_torch(args: list[str], src: Path) -> bool:
    """Whether the command imports torch, from ``-X importtime`` (one line per imported module, on stderr)."""
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "gankit", *args], env=env(src), check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    return any(line.rsplit("|", 1)[-1].strip() == "torch" for line in r.stderr.splitlines())


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--src", type=Path, default=SRC, help="the gankit source tree to time (default: this one)")
    a = p.parse_args()
    src = a.src.resolve()
    print(f"source: {src}")
    bare = statistics.median(_bare() for _ in range(a.repeat))
    print(f"python -c pass: median {bare * 1000:.0f} ms (the interpreter alone)")
    for args in COMMANDS:
        ts = time_command(args, a.repeat, src)
        print(f"gankit {' '.join(args)}: median {statistics.median(ts) * 1000:.0f} ms over {a.repeat} "
              f"(min {min(ts) * 1000:.0f}, max {max(ts) * 1000:.0f}); imports torch: {imports_torch(args, src)}")


def _bare() -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - t0


if __name__ == "__main__":
    main()
