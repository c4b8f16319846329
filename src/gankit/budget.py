"""Memory a config will need, estimated before anything is allocated, against what the machine has.

A config (from a file, an override, a checkpoint or an export) that asks for networks or batches far
beyond the machine's memory is refused with one line before it allocates, instead of swapping for
hours or dying in the allocator. The networks are built on PyTorch's ``meta`` device, which records
shapes but holds no data, so their parameters are counted exactly, and one forward pass on a batch of
two counts the activations per sample (the outputs of every layer; functional operations inside a
layer are not counted, so this errs low). A generator export is counted on the meta device first, then
its activations on the real network once its weights are known to fit (running a network on the meta
device costs a second of imports the sampling commands otherwise never pay). In 32-bit numbers:

    training  ≈ 4 B · [4·P + P_G·[ema > 0] + max(B · (A_G + 2·A_D) · (1 + unroll), 3·N_eval·D)]
    sampling  ≈ 4 B · [P_G + b · A_G + k · n · D]     (k sets of n samples kept in memory; 0 when streamed)

with P all parameters (weights, gradients and Adam's two moments: 4·P), P_G the generator's (its EMA
copy), B = data.batch_size, A_G and A_D the activations per sample of G and D (D sees a real and a
fake batch), N_eval = eval.num_samples (generated, real and held-out sets of D = prod(data shape)
numbers each), b the sampling chunk and n the samples drawn.

The bound is the memory available now: the smallest of ``MemAvailable`` (/proc/meminfo; elsewhere the
physical memory), the container's cgroup limit, the process's address-space limit (``ulimit -v``) and,
for CUDA, the device's free memory. ``run.max_memory_gb`` replaces it (larger to try anyway, smaller to
leave room for other work); the environment variable ``GANKIT_MAX_MEMORY_GB`` does the same for every
command (sampling and evaluating read no user config: a number in an export's config is not trusted).
"""

from __future__ import annotations

import math
import os
import resource
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import torch
from torch import nn

from gankit.errors import ConfigError
from gankit.evalmode import eval_mode

if TYPE_CHECKING:
    from gankit.nets.capabilities import GeneratorNet

BYTES = 4  # float32
SAMPLE_CHUNK = 8192  # samples generated at once by api.sample_net_with_labels


@dataclass
class Footprint:
    """Parameters and activations per sample of a run's networks (counted on the meta device)."""

    params: int  # every network's parameters
    g_params: int  # the generator's
    g_acts: int  # numbers per sample output by G's layers in one forward pass
    d_acts: int  # the same for D (G's count when D could not be run on its own)


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def _meminfo(key: str, text: str) -> int | None:
    for line in text.splitlines():
        if line.startswith(key + ":"):
            return int(line.split()[1]) * 1024
    return None


def available(device: torch.device | str = "cpu") -> tuple[int, str]:
    """(bytes this process may still allocate, where that bound comes from)."""
    device = torch.device(device)
    if device.type == "cuda" and torch.cuda.is_available():
        free, _ = torch.cuda.mem_get_info(device)
        return int(free), f"free on {device}"
    options: list[tuple[int, str]] = []
    avail = _meminfo("MemAvailable", _read("/proc/meminfo"))
    if avail is not None:
        options.append((avail, "available on this machine (MemAvailable)"))
    else:
        try:
            options.append((os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"), "of physical memory"))
        except (ValueError, OSError, AttributeError):
            pass
    limit, current = _read("/sys/fs/cgroup/memory.max").strip(), _read("/sys/fs/cgroup/memory.current").strip()
    if limit.isdigit() and current.isdigit():
        options.append((max(int(limit) - int(current), 0), "left under the container's memory limit"))
    soft, _ = resource.getrlimit(resource.RLIMIT_AS)
    if soft != resource.RLIM_INFINITY:
        used = _meminfo("VmSize", _read("/proc/self/status")) or 0
        options.append((max(soft - used, 0), "left under this process's address-space limit (ulimit -v)"))
    return min(options) if options else (2**62, "(unknown)")


ENV = "GANKIT_MAX_MEMORY_GB"


def limit(gb: float = 0.0, device: torch.device | str = "cpu") -> tuple[int, str]:
    """The bound an estimate is checked against: ``gb`` (a config's run.max_memory_gb) when > 0, else the
    environment's GANKIT_MAX_MEMORY_GB when set, else :func:`available`."""
    if gb > 0:
        return int(gb * 1e9), "set by run.max_memory_gb"
    text = os.environ.get(ENV, "").strip()
    if text:
        try:
            value = float(text)
        except ValueError:
            value = -1.0
        if not (math.isfinite(value) and value > 0):
            raise ConfigError(f"{ENV} must be a number of GB > 0, got {text[:40]!r}")
        return int(value * 1e9), f"set by {ENV}"
    return available(device)


def _leaf_outputs(modules: Iterable[nn.Module], run: Callable[[], Any], n: int) -> int:
    """Numbers per sample output by the leaf layers of ``modules`` while ``run()`` executes."""
    count = [0]

    def hook(_module: nn.Module, _inputs: Any, out: Any) -> None:
        if isinstance(out, torch.Tensor):
            count[0] += out.numel()

    handles = [m.register_forward_hook(hook) for mod in modules for m in mod.modules() if not list(m.children())]
    try:
        with torch.no_grad():
            run()
    finally:
        for h in handles:
            h.remove()
    return math.ceil(count[0] / n)


def on_meta(build: Callable[[], dict[str, nn.Module]]) -> dict[str, nn.Module]:
    """``build()``'s networks (by role: "generator", "discriminator", "encoder", ...) on the meta device:
    shapes only, no memory, whatever their size."""
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")  # loading pretrained weights into meta tensors is a (harmless) no-op
        return build()


def footprint(nets: dict[str, nn.Module], data_shape: tuple[int, ...], pack: int = 1,
              forward: bool = True) -> Footprint:
    """Count the parameters of ``nets`` and, with ``forward``, the activations per sample of one forward
    pass of two samples through G and then D, on the networks' own device (meta: no memory; a real
    network: in eval mode, under a forked RNG, so nothing it holds changes). Without ``forward`` (or
    when a network cannot run on its own) the activations count one data-sized output per layer."""
    g, d = nets.get("generator"), nets.get("discriminator")
    params = sum(p.numel() for net in nets.values() for p in net.parameters())
    g_params = sum(p.numel() for p in g.parameters()) if g is not None else 0
    shape_size = math.prod(data_shape)
    layers = lambda net: sum(1 for m in net.modules() if not list(m.children()))  # noqa: E731
    g_acts = shape_size * layers(g) if g is not None else 0
    d_acts = shape_size * layers(d) if d is not None else g_acts
    if forward and g is not None:
        n = 2 * max(1, pack)
        device = next(g.parameters(), torch.empty(0)).device
        x = None

        def forward_g() -> None:
            nonlocal x
            x = g(cast("GeneratorNet", g).sample_noise(n, device=device))

        try:
            with torch.random.fork_rng(devices=[]), eval_mode(*nets.values()):
                g_acts = _leaf_outputs([g], forward_g, n)
                if d is not None and x is not None and tuple(x.shape[1:]) == tuple(data_shape):
                    d_acts = _leaf_outputs([d], lambda: d(x), n)
        except Exception:  # a network that takes more than x (conditional, text-conditioned critics): estimated
            pass
    return Footprint(params, g_params, max(g_acts, shape_size), max(d_acts, shape_size))


def gb(n: float) -> str:
    """Bytes for a message: '1.5 GB', '8,000.0 GB', '12 MB'."""
    return f"{n / 1e9:,.1f} GB" if n >= 1e8 else f"{n / 1e6:.0f} MB"


def _refuse(what: str, need: float, bound: tuple[int, str], fix: str, how: str) -> None:
    have, where = bound
    if need > have:
        raise ConfigError(f"{what} would need about {gb(need)} of memory, more than the {gb(have)} {where}; "
                          f"{fix}, or set {how} to change the bound")


def training_bytes(cfg: Any, fp: Footprint, data_shape: tuple[int, ...]) -> float:
    """The training estimate of the module docstring, in bytes."""
    batch = cfg.data.batch_size * (fp.g_acts + 2 * fp.d_acts) * (1 + cfg.model.unroll)
    evaluation = 3 * cfg.eval.num_samples * math.prod(data_shape)
    weights = 4 * fp.params + (fp.g_params if cfg.train.ema > 0 else 0)
    return float(BYTES) * (weights + max(batch, evaluation))


def check_training(cfg: Any, fp: Footprint, data_shape: tuple[int, ...], device: torch.device | str = "cpu") -> None:
    """Refuse a run whose networks, batches or evaluation sets would not fit (one ConfigError line)."""
    need = training_bytes(cfg, fp, data_shape)
    _refuse(f"this run ({fp.params:,} parameters, data.batch_size={cfg.data.batch_size} x "
            f"{fp.g_acts + 2 * fp.d_acts:,} activations per sample, eval.num_samples={cfg.eval.num_samples})",
            need, limit(float(cfg.run.max_memory_gb), device),
            "lower generator/discriminator width or depth, data.batch_size or eval.num_samples",
            f"run.max_memory_gb=N or {ENV}=N (GB)")


def sampling_bytes(fp: Footprint) -> float:
    """The generator and one chunk of its activations (the sampling estimate without the samples), bytes."""
    return float(BYTES) * (fp.g_params + SAMPLE_CHUNK * fp.g_acts)


def check_generator(fp: Footprint, what: str) -> None:
    """Refuse a generator (e.g. an export's, rebuilt from its metadata) whose sampling would not fit.
    The bound is GANKIT_MAX_MEMORY_GB or the machine's: never a number from the file being read."""
    _refuse(what, sampling_bytes(fp), limit(), "it is larger than this machine can hold", f"{ENV}=N (GB)")


def check_samples(n: int, data_shape: tuple[int, ...], copies: int = 1, fix: str = "draw fewer samples (-n)") -> None:
    """Refuse keeping ``copies`` sets of ``n`` samples of ``data_shape`` in memory when they would not fit."""
    need = float(BYTES) * copies * n * math.prod(data_shape)
    what = f"{n:,} samples of shape {tuple(data_shape)}" + (f" ({copies} sets)" if copies > 1 else "")
    _refuse(what, need, limit(), fix, f"{ENV}=N (GB)")
