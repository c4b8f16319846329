"""Looking inside a trained generator: latent interpolations and nearest training neighbours.

- :func:`interpolate_noise`: points on the straight line (``linear``) or the great circle
  (``spherical``, slerp; White 2016) between two noise vectors. For a Gaussian prior the linear
  midpoint has a norm ~30 % below typical samples, so it sits in a low-probability region; slerp keeps
  the norm, which is why DCGAN-era papers prefer it.
- :func:`interpolations`: ``rows`` random pairs of noise vectors, ``steps`` points each, through G.
- :func:`nearest_neighbours`: for each query, the ``k`` closest rows of a reference set in L2
  (chunked ``torch.cdist``, exact).
- :func:`copy_check`: does the generator copy its training data? The distance from each generated
  sample to its nearest training image, beside the same distance for held-out real images (the test
  split when there is one, otherwise training images against the rest of the training set). A
  generator that memorises sits far below the held-out distances; one that generalises sits near them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import numpy as np
import torch

from gankit.errors import ConfigError
from gankit.evalmode import eval_mode

if TYPE_CHECKING:
    from gankit.nets.capabilities import GeneratorNet

__all__ = ["INTERPOLATIONS", "CopyCheck", "copy_check", "interpolate_noise", "interpolations", "nearest_neighbours"]

INTERPOLATIONS = ("linear", "spherical")


def interpolate_noise(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "spherical") -> torch.Tensor:
    """``steps`` points from ``z0`` to ``z1`` (both ends included), shape (steps, *z0.shape).

    Args:
        z0, z1: noise vectors of the same shape (any shape; flattened for the angle).
        steps: number of points, >= 2.
        mode: "linear" (1-t) z0 + t z1, or "spherical" sin((1-t)Ω)/sin Ω z0 + sin(tΩ)/sin Ω z1 with Ω the
            angle between them (linear when they are (anti)parallel, where slerp is undefined).

    Raises:
        ConfigError: an unknown mode, fewer than 2 steps, or shapes that differ.
    """
    if mode not in INTERPOLATIONS:
        raise ConfigError(f"unknown interpolation '{mode}'; choose one of: {', '.join(INTERPOLATIONS)}")
    if steps < 2:
        raise ConfigError(f"an interpolation needs at least 2 steps, got {steps}")
    if z0.shape != z1.shape:
        raise ConfigError(f"cannot interpolate between noise of shapes {tuple(z0.shape)} and {tuple(z1.shape)}")
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64).view(-1, *([1] * z0.ndim))
    a, b = z0.double(), z1.double()
    if mode == "spherical":
        cos = (a.flatten() @ b.flatten()) / (a.norm() * b.norm()).clamp_min(1e-30)
        omega = torch.arccos(cos.clamp(-1.0, 1.0))
        sin = torch.sin(omega)
        if float(sin) > 1e-6:
            out = (torch.sin((1 - t) * omega) / sin) * a + (torch.sin(t * omega) / sin) * b
            return out.to(z0.dtype)
    return ((1 - t) * a + t * b).to(z0.dtype)


@torch.no_grad()
def interpolations(net: torch.nn.Module, rows: int = 8, steps: int = 10, mode: str = "spherical",
                   seed: int = 0) -> np.ndarray:
    """G along ``rows`` random noise paths: an array (rows, steps, *sample_shape).

    The pairs of end points are drawn from the generator's own prior (``net.sample_noise``) under ``seed``.
    """
    if rows < 1:
        raise ConfigError(f"the number of interpolation rows must be >= 1, got {rows}")
    gen = torch.Generator(device="cpu").manual_seed(seed)
    ends = cast("GeneratorNet", net).sample_noise(2 * rows, generator=gen)
    z = torch.cat([interpolate_noise(ends[2 * i], ends[2 * i + 1], steps, mode) for i in range(rows)])
    with eval_mode(net):
        x = net(z)
    return x.reshape(rows, steps, *x.shape[1:]).float().numpy()


def _flat(x: Any) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return t.reshape(t.shape[0], -1).to(torch.float32)


def nearest_neighbours(queries: Any, reference: Any, k: int = 5, exclude_self: bool = False,
                       chunk: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest reference rows of each query in L2: (distances (Q, k), indices (Q, k)), ascending.

    Args:
        queries: (Q, ...) samples (flattened).
        reference: (R, ...) samples of the same size.
        k: neighbours per query (<= R).
        exclude_self: queries are reference rows 0..Q-1; row i never counts as its own neighbour.
        chunk: reference rows per distance block (memory: Q * chunk floats).
    """
    q, r = _flat(queries), _flat(reference)
    if q.shape[1] != r.shape[1]:
        raise ConfigError(f"queries have {q.shape[1]} values per sample but the reference has {r.shape[1]}")
    if not 1 <= k <= len(r) - int(exclude_self):
        raise ConfigError(f"k must be between 1 and {len(r) - int(exclude_self)}, got {k}")
    best_d = torch.full((len(q), 0), float("inf"))
    best_i = torch.zeros((len(q), 0), dtype=torch.int64)
    for start in range(0, len(r), chunk):
        block = r[start : start + chunk]
        d = torch.cdist(q, block)  # matrix-multiply form: fast; the winners are recomputed exactly below
        if exclude_self:
            rows = torch.arange(len(q))
            cols = rows - start
            ok = (cols >= 0) & (cols < len(block))
            d[rows[ok], cols[ok]] = float("inf")
        kk = min(k, d.shape[1])
        dv, di = torch.topk(d, kk, dim=1, largest=False)
        best_d = torch.cat([best_d, dv], 1)
        best_i = torch.cat([best_i, di + start], 1)
        order = torch.argsort(best_d, dim=1)[:, :k]
        best_d, best_i = torch.gather(best_d, 1, order), torch.gather(best_i, 1, order)
    exact = (q.double()[:, None, :] - r.double()[best_i]).norm(dim=2)  # (Q, k) without cancellation
    order = torch.argsort(exact, dim=1, stable=True)
    return torch.gather(exact, 1, order).numpy(), torch.gather(best_i, 1, order).numpy()


@dataclass
class CopyCheck:
    """Distances to the nearest training image (L2 in [-1, 1] pixel units).

    Attributes:
        generated: (N,) distance of each generated sample to its nearest training image.
        held_out: (M,) the same for real images the generator never saw.
        held_out_kind: what ``held_out`` is.
        ratio: median(generated) / median(held_out): near 1 when the generator makes new samples,
            well below 1 when it reproduces training images (or some of them).
        copies: fraction of generated samples closer to a training image than the 1st percentile of
            the held-out distances.
    """

    generated: np.ndarray
    held_out: np.ndarray
    held_out_kind: str
    ratio: float
    copies: float


def copy_check(generated: Any, train: Any, held_out: Any | None = None) -> CopyCheck:
    """Compare generated samples' nearest-training-image distances with held-out real images'.

    Args:
        generated: (N, ...) generated samples.
        train: (R, ...) the training images.
        held_out: (M, ...) real images not in ``train`` (e.g. the test split). None: the first
            min(N, R - 1) training images against the rest of the training set (leave-one-out).
    """
    d_gen = nearest_neighbours(generated, train, k=1)[0][:, 0]
    if held_out is None:
        m = min(len(_flat(generated)), len(_flat(train)) - 1)
        d_ref = nearest_neighbours(_flat(train)[:m], train, k=1, exclude_self=True)[0][:, 0]
        kind = "training images against the rest of the training set"
    else:
        d_ref = nearest_neighbours(held_out, train, k=1)[0][:, 0]
        kind = "held-out test images"
    med_ref = float(np.median(d_ref))
    ratio = float(np.median(d_gen)) / med_ref if med_ref > 0 else float("inf")
    copies = float(np.mean(d_gen < np.quantile(d_ref, 0.01)))
    return CopyCheck(d_gen, d_ref, kind, ratio, copies)
