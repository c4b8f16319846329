"""``run.precision=auto``: bf16 autocast where this machine runs the run's own steps faster, fp32 elsewhere.

bfloat16 autocast halves the bytes a convolution moves, but whether a step gets faster depends on the
CPU (AVX-512 BF16 / AMX units, or emulation that is slower than fp32), the thread count and the nets
(small MLPs pay more for the casts than they save). So it is measured, once: a start-up probe times a
few training steps (D step + G step) of a copy of the run's recipe in fp32 and in bf16, interleaved so
that a change of load hits both alike, and takes bf16 when its median step time is at least ``MARGIN``
shorter:

    bf16  iff  t_bf16 < (1 − MARGIN) · t_fp32

The result is cached in ``precision.json`` in the gankit cache folder (``~/.cache/gankit``,
``GANKIT_DATA``), keyed by the device's model, the torch version, the thread count and the nets'
signature (recipe, networks, widths, data shape, batch size), so later runs decide at once. The choice is
said in one line and written into the run's config (``run.precision`` = fp32 or bf16), so a resume keeps
it. ``run.precision=fp32`` or ``bf16`` skip the probe. Point data (2-D toys, MLPs) is fp32 without a probe.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from gankit.data.images.cache import data_root
from gankit.fileio import atomic_write_bytes

if TYPE_CHECKING:
    from gankit.models.base import Recipe

log = logging.getLogger("gankit")

CACHE_FILE = "precision.json"
MARGIN = 0.05  # bf16 must save at least 5 % of a step: smaller differences are within the timing noise
WARMUP = 2  # untimed steps per precision (allocations, oneDNN kernel selection)
ROUNDS = 5  # timed steps per precision, interleaved

Timer = Callable[[bool], float]  # seconds per step with (True) or without (False) bf16 autocast


def decide(fp32_s: float, bf16_s: float, margin: float = MARGIN) -> str:
    """"bf16" when its step time is below (1 − margin) of fp32's, else "fp32"."""
    return "bf16" if bf16_s < (1.0 - margin) * fp32_s else "fp32"


def device_name(device: torch.device) -> str:
    """The accelerator's or CPU's model name (the probe's result holds for that hardware)."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine() or "cpu"


def probe_key(cfg: Any, data_shape: tuple[int, ...], device: torch.device) -> str:
    """What the measured speed depends on: hardware, torch, threads and the nets as configured."""
    g, d = cfg.generator, cfg.discriminator
    nets = (f"{cfg.model.recipe}/{cfg.model.condition} G {g.name} w{g.width} d{g.depth} z{g.noise_dim} "
            f"D {d.name} w{d.width} d{d.depth} sn{int(d.spectral_norm)} x{'x'.join(map(str, data_shape))} "
            f"b{cfg.data.batch_size} nhwc{int(cfg.run.channels_last)}")
    threads = torch.get_num_threads() if device.type == "cpu" else 0
    return f"{device_name(device)} | torch {torch.__version__} | {threads} threads | {nets}"


def read_cache(path: Path) -> dict[str, Any]:
    """The cached probe results ({} when the file is missing or unreadable: it is only a cache)."""
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def write_cache(path: Path, key: str, entry: dict[str, Any]) -> None:
    """Add one probe result to the cache file (atomically); a cache that cannot be written is skipped."""
    data = read_cache(path)
    data[key] = entry
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_bytes(path, (json.dumps(data, indent=1, sort_keys=True) + "\n").encode())


def step_timer(recipe: Recipe, draw: Callable[[], Any], device: torch.device) -> Timer:
    """Times one D step and one G step of a deep copy of ``recipe`` (the run's own weights and optimiser
    state are untouched; :func:`choose` restores the global RNG afterwards)."""
    probe = copy.deepcopy(recipe)
    probe.stats_wanted = False
    adversarial = probe.adversarial

    def timed(bf16: bool) -> float:
        ctx = torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        start = time.perf_counter()
        with ctx:
            if adversarial:
                probe.d_step(draw())
            probe.g_step(draw())
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    return timed


def measure(timer: Timer, warmup: int = WARMUP, rounds: int = ROUNDS) -> tuple[float, float]:
    """(median fp32 step seconds, median bf16 step seconds), the timed steps interleaved."""
    for _ in range(warmup):
        timer(False)
        timer(True)
    fp32, bf16 = [], []
    for _ in range(rounds):
        fp32.append(timer(False))
        bf16.append(timer(True))
    return statistics.median(fp32), statistics.median(bf16)


def choose(cfg: Any, data_shape: tuple[int, ...], kind: str, device: torch.device, timer: Callable[[], Timer],
           cache: Path | None = None) -> str:
    """The precision a run uses: ``run.precision`` when it is fp32 or bf16; for ``auto`` the cached or
    freshly probed choice (``timer()`` builds the step timer only when a probe is needed), said in one line."""
    asked = cfg.run.precision
    if asked != "auto":
        return str(asked)
    if kind != "image":
        log.info("precision: fp32 (run.precision=auto: bf16 autocast is probed for image nets only)")
        return "fp32"
    path = cache or data_root() / CACHE_FILE
    key = probe_key(cfg, data_shape, device)
    entry = read_cache(path).get(key)
    if isinstance(entry, dict) and entry.get("choice") in ("fp32", "bf16"):
        how = "measured earlier on this machine"
    else:
        with torch.random.fork_rng(devices=[device] if device.type == "cuda" else []):  # training's RNG unmoved
            fp32_s, bf16_s = measure(timer())
        entry = {"fp32_s": round(fp32_s, 6), "bf16_s": round(bf16_s, 6), "choice": decide(fp32_s, bf16_s),
                 "when": time.strftime("%Y-%m-%d %H:%M:%S")}
        write_cache(path, key, entry)
        how = "start-up probe"
    choice = str(entry["choice"])
    log.info("precision: %s (run.precision=auto, %s: %.3g s per step in fp32, %.3g s in bf16 autocast; cached in %s; "
             "set run.precision=fp32 or bf16 to choose)", "bf16 autocast" if choice == "bf16" else "fp32", how,
             float(entry.get("fp32_s", 0.0)), float(entry.get("bf16_s", 0.0)), path)
    return choice
