"""Data-parallel training with ``torch.distributed``, launched by torchrun.

    torchrun --nproc_per_node 2 -m gankit train dcgan-digits      # gloo on CPU, NCCL on CUDA

torchrun starts N copies of the same command with ``WORLD_SIZE``, ``RANK`` and ``LOCAL_RANK`` in their
environment; :func:`setup` sees them and joins the process group (``gloo`` on CPU, ``nccl`` on CUDA with
one GPU per process, ``cuda:LOCAL_RANK``). Without them nothing here does anything and training is the
single-process code path, unchanged.

Why gradients are averaged by an optimiser hook and not by ``DistributedDataParallel``: a GAN step is not
DDP's "one forward, one backward per module". D runs twice per D step (real, fake), runs inside G's step
with its weights frozen (its forward would arm DDP's reducer for a backward that never reaches it), takes
a double backward for R1 and the gradient penalty (``create_graph=True``, which DDP does not support), is
called through ``torch.func.functional_call`` by the unrolled GAN, and G is deep-copied for the EMA. So
every rank keeps plain modules and :func:`sync_gradients` registers a *step pre-hook* on each optimiser: just
before ``opt.step()`` the gradients of that optimiser's parameters are averaged over the ranks in one
flattened all-reduce. Whatever a recipe does between ``zero_grad`` and ``step`` (penalties, look-aheads,
several forwards), the update every rank applies is the gradient of the global-batch loss (for losses that
are means over the batch), and ranks that start from the same weights stay identical.

Each rank draws ``data.batch_size / world_size`` samples per step (:func:`per_rank_batch`). Two sampling
modes (``run.distributed_data``):

- ``independent`` (the default, what real training uses): rank r's data and noise RNG is seeded from
  ``(run.seed, r)``, so the ranks see different samples; N ranks draw the global batch N times faster.
- ``shard``: every rank draws the whole global batch from the same RNG stream and keeps its slice (data,
  and G's noise through :func:`shard_noise`). A DDP run then repeats the single-process run with the same
  seed up to float rounding (tests/train/test_distributed.py); it costs N times the sampling. Randomness a
  recipe draws inside a step (instance noise, label flips, gradient-penalty interpolates, dropout) comes
  from the shared stream with the per-rank shape, so only the data and noise are the single-process ones.

Per-rank statistics: batch norm, minibatch std and minibatch discrimination see the rank's B/N samples,
not the global batch (as under DDP without SyncBatchNorm, which torch supports on CUDA only); the saved
running statistics are rank 0's. Logged losses and D outputs are averaged over the ranks (the global-batch
values for mean losses); gradient norms are the mean of the per-rank norms measured before the averaging.
"""

from __future__ import annotations

import contextlib
import datetime
import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch._utils import _flatten_dense_tensors, _unflatten_dense_tensors

from gankit.errors import ConfigError

DATA_MODES = ("independent", "shard")


@dataclass(frozen=True)
class Context:
    """This process's place in the job: rank ``rank`` of ``world_size`` (1: no distribution)."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        """Rank 0: the only process that writes the run directory, logs and figures."""
        return self.rank == 0


def env_context(environ: dict[str, str] | None = None) -> Context:
    """The job torchrun describes in the environment (``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``).

    Raises:
        ConfigError: a variable that is not an integer, or a rank outside ``[0, WORLD_SIZE)``.
    """
    env = os.environ if environ is None else environ
    try:
        world = int(env.get("WORLD_SIZE", "1"))
        rank = int(env.get("RANK", "0"))
        local = int(env.get("LOCAL_RANK", str(rank)))
    except ValueError:
        raise ConfigError("WORLD_SIZE, RANK and LOCAL_RANK must be integers (torchrun sets them)") from None
    if world < 1 or not 0 <= rank < world or local < 0:
        raise ConfigError(f"bad torchrun environment: RANK={rank}, LOCAL_RANK={local}, WORLD_SIZE={world}")
    return Context(rank, world, local)


def context() -> Context:
    """The running process group's context, or the single-process one when none is initialised."""
    if dist.is_available() and dist.is_initialized():
        return Context(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", dist.get_rank())))
    return Context()


def setup(device: torch.device) -> tuple[Context, torch.device, bool]:
    """Join torchrun's process group when the environment asks for one.

    Args:
        device: the device single-process training would use; under CUDA each process takes
            ``cuda:LOCAL_RANK``.

    Returns:
        (context, device of this process, whether this call created the process group: the caller
        then ends it with :func:`teardown`).
    """
    ctx = env_context()
    if not ctx.enabled:
        return context(), device, False
    if device.type == "cuda":
        if ctx.local_rank >= torch.cuda.device_count():
            raise ConfigError(f"LOCAL_RANK {ctx.local_rank} but only {torch.cuda.device_count()} CUDA devices")
        device = torch.device("cuda", ctx.local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():
        return context(), device, False
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=ctx.rank, world_size=ctx.world_size,
                            timeout=datetime.timedelta(minutes=30))
    return ctx, device, True


def teardown(created: bool) -> None:
    if created and dist.is_initialized():
        dist.destroy_process_group()


@contextlib.contextmanager
def session(device: torch.device) -> Iterator[Context]:
    """:func:`setup` for the duration of a training call; the group is ended only if this call made it."""
    ctx, _, created = setup(device)
    try:
        yield ctx
    finally:
        teardown(created)


def barrier(ctx: Context) -> None:
    if ctx.enabled:
        dist.barrier()


def per_rank_batch(batch_size: int, world_size: int, pack: int = 1) -> int:
    """``batch_size / world_size``: the batch each rank draws.

    Raises:
        ConfigError: the global batch does not split evenly, or a rank's share is not a multiple of
            ``model.pack``.
    """
    if batch_size % world_size:
        raise ConfigError(f"data.batch_size ({batch_size}) must be divisible by the number of processes "
                          f"({world_size}): it is the global batch, split evenly over the ranks")
    share = batch_size // world_size
    if share % pack:
        raise ConfigError(f"each of the {world_size} processes draws {share} samples, which must be a multiple "
                          f"of model.pack ({pack}); change data.batch_size")
    return share


def sampling_seed(seed: int, rank: int, step: int = 0) -> int:
    """The data/noise seed of rank ``rank`` in ``independent`` mode from ``step`` on: distinct per
    (seed, rank, step) (numpy's SeedSequence mixes the three)."""
    return int(np.random.SeedSequence([seed, rank, step]).generate_state(1, dtype=np.uint64)[0] % 2**63)


def shard(batch: Any, ctx: Context) -> Any:
    """This rank's slice of a global batch (a tensor, or a tuple such as (images, labels))."""
    if isinstance(batch, (tuple, list)):
        return type(batch)(shard(b, ctx) for b in batch)
    n = batch.shape[0] // ctx.world_size
    return batch[ctx.rank * n:(ctx.rank + 1) * n]


def shard_noise(net: Any, ctx: Context) -> None:
    """Make ``net.sample_noise`` draw the global batch of noise from the shared RNG and keep this rank's
    slice (``shard`` mode). Draws from a private ``generator`` (figures, evaluation) are left alone."""
    original: Callable[..., Tensor] = net.sample_noise

    def sample_noise(n: int, device: torch.device | str | None = None,
                     generator: torch.Generator | None = None) -> Tensor:
        if generator is not None:
            return original(n, device=device, generator=generator)
        return shard(original(n * ctx.world_size, device=device), ctx)

    net.sample_noise = sample_noise  # net: a generator module (gankit.nets.capabilities.GeneratorNet)


def average_(tensors: list[Tensor], world_size: int) -> None:
    """Replace each tensor by its mean over the ranks: one flattened all-reduce."""
    if not tensors:
        return
    flat = _flatten_dense_tensors(tensors)
    dist.all_reduce(flat)
    flat.div_(world_size)
    for t, mean in zip(tensors, _unflatten_dense_tensors(flat, tensors), strict=True):
        t.copy_(mean)


def sync_gradients(optimizers: Iterable[torch.optim.Optimizer], ctx: Context) -> list[Any]:
    """Average gradients over the ranks just before every ``opt.step()`` (see the module docstring).

    Every rank runs the same steps in the same order, so the all-reduces pair up. Returns the hook handles.
    """

    def hook(opt: torch.optim.Optimizer, args: Any, kwargs: Any) -> None:
        average_([p.grad for g in opt.param_groups for p in g["params"] if p.grad is not None], ctx.world_size)

    return [opt.register_step_pre_hook(hook) for opt in optimizers]


def broadcast_modules(modules: Iterable[nn.Module], ctx: Context) -> None:
    """Rank 0's parameters and buffers on every rank (all ranks seed alike; this makes it certain)."""
    with torch.no_grad():
        for m in modules:
            for t in [*m.parameters(), *m.buffers()]:
                buf = t.data.contiguous()  # a channels_last weight is broadcast through a dense copy
                dist.broadcast(buf, 0)
                if buf.data_ptr() != t.data.data_ptr():
                    t.data.copy_(buf)


def mean_stats(stats: dict[str, Tensor], ctx: Context) -> dict[str, Tensor]:
    """Step statistics averaged over the ranks (the same keys on every rank)."""
    keys = list(stats)  # every rank's recipe returns the same keys in the same order
    flat = torch.stack([stats[k].detach().float().reshape(()) for k in keys])
    dist.all_reduce(flat)
    flat /= ctx.world_size
    return dict(zip(keys, flat.unbind(), strict=True))


def agree_max(values: list[float], ctx: Context, device: torch.device) -> list[float]:
    """The largest of each value over the ranks: how ranks agree to stop (signals, time limits,
    non-finite losses), so none waits forever in a collective the others have left."""
    t = torch.tensor(values, dtype=torch.float64 if device.type == "cpu" else torch.float32, device=device)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return t.tolist()


def gather_objects(obj: Any, ctx: Context) -> list[Any]:
    """``obj`` of every rank, in rank order (e.g. RNG states for the checkpoint)."""
    out: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(out, obj)
    return out
