"""Toy data: the lectures' 1-D targets, the 2-D mixtures of docs/protocols.md, and user point files.

- ``gauss1d``: N(-1, 1), the target the Russian lecture (Utkin, GAN lecture (SPbPU), "Возвращаясь к
  порождающим моделям") learns from uniform noise z ~ U(0, 1).
- ``bimodal1d``: ½ N(-2, 0.5²) + ½ N(2, 0.5²), the two-bump density of the KL-direction discussion.
- ``ring8``: 8 Gaussians, means (cos 2πk/8, sin 2πk/8), k = 0..7, std 0.01 (VEEGAN/PacGAN convention;
  built with ``arange(8) / 8``, not ``linspace(0, 2π, 8)``, which would repeat a mode).
- ``grid25``: 25 Gaussians, means {-4, -2, 0, 2, 4}², std 0.05.
- ``swissroll``, ``moons``: the usual manifold-shaped sets (no closed-form density).
- ``parallel-lines``: (θ, U[0, 1]): the lecture's disjoint-support example (Hung-yi Lee, GAN lecture (ATDL 14),
  "Evaluating JS divergence"); θ = ``data.theta``.
- ``points``: the user's own .npy or .csv file of shape (N, D) or (N,).

Every sample is drawn with torch's global RNG, so seeding and checkpointing that RNG makes training
reproducible and resumable bit for bit.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from scipy.special import logsumexp

from gankit.errors import DataError, first_line
from gankit.registry import DATASETS


class PointDataset:
    """A distribution over R^dim that can be sampled, and possibly evaluated.

    Attributes:
        name: registry name.
        dim: dimension of a point.
        kind: "points" (the figures and metrics branch on this, never on the name).
        modes: (M, dim) mode centres for the mode-coverage metrics, or None.
        mode_std: the per-mode standard deviation used for "high quality" (3 std), or None.
    """

    kind = "points"
    streamed = False  # sample() draws afresh (the Dataset contract, gankit.data.base)

    def __init__(self, name: str, dim: int, modes: np.ndarray | None = None, mode_std: float | None = None):
        self.name = name
        self.dim = dim
        self.modes = None if modes is None else np.asarray(modes, dtype=np.float64)
        self.mode_std = mode_std

    @property
    def shape(self) -> tuple[int, ...]:
        return (self.dim,)

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        """Draw ``n`` points, shape (n, dim), float32, with torch's global RNG."""
        raise NotImplementedError

    def log_prob(self, x: np.ndarray) -> np.ndarray | None:
        """Log density at points ``x`` (N, dim); None when the density is unknown."""
        return None

    @property
    def has_density(self) -> bool:
        return type(self).log_prob is not PointDataset.log_prob

    def bounds(self, margin: float = 0.25) -> np.ndarray:
        """(dim, 2) plotting box that holds almost all of the data, with a relative margin."""
        state = torch.get_rng_state()  # plotting must never move the training RNG
        try:
            torch.manual_seed(0)
            x = self.sample(4096).double().numpy()
        finally:
            torch.set_rng_state(state)
        lo, hi = np.quantile(x, 0.001, axis=0), np.quantile(x, 0.999, axis=0)
        span = np.maximum(hi - lo, 1e-3)
        return np.stack([lo - margin * span, hi + margin * span], axis=1)


class GaussianMixture(PointDataset):
    """Equal-weight mixture of isotropic Gaussians N(means[k], std² I)."""

    def __init__(self, name: str, means: np.ndarray, std: float):
        means = np.asarray(means, dtype=np.float64)
        super().__init__(name, means.shape[1], modes=means, mode_std=std)
        self.std = float(std)
        self._centres = means  # (M, dim) float64: ``modes``, never None here
        self._means = torch.as_tensor(means, dtype=torch.float32)

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        k = torch.randint(len(self._means), (n,))
        x = self._means[k] + self.std * torch.randn(n, self.dim)  # (n, dim)
        return x.to(device) if device is not None else x

    def log_prob(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float64).reshape(-1, self.dim)
        sq = ((x[:, None, :] - self._centres[None, :, :]) ** 2).sum(-1)  # (N, M)
        log_norm = -0.5 * self.dim * math.log(2 * math.pi * self.std**2)
        return logsumexp(-0.5 * sq / self.std**2 + log_norm, axis=1) - math.log(len(self._centres))


class SwissRoll(PointDataset):
    """2-D swiss roll: t = 1.5π(1 + 2u), (t cos t, t sin t)/5 plus N(0, 0.05²) noise."""

    def __init__(self) -> None:
        super().__init__("swissroll", 2)

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        t = 1.5 * math.pi * (1 + 2 * torch.rand(n))
        x = torch.stack([t * torch.cos(t), t * torch.sin(t)], dim=1) / 5.0 + 0.05 * torch.randn(n, 2)
        return x.to(device) if device is not None else x


class TwoMoons(PointDataset):
    """Two interleaved half circles (as scikit-learn's make_moons), centred, noise std 0.05."""

    def __init__(self) -> None:
        super().__init__("moons", 2)

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        u = math.pi * torch.rand(n)
        upper = torch.rand(n) < 0.5
        x = torch.where(upper, torch.cos(u), 1 - torch.cos(u))
        y = torch.where(upper, torch.sin(u), 0.5 - torch.sin(u))
        pts = torch.stack([x - 0.5, y - 0.25], dim=1) + 0.05 * torch.randn(n, 2)
        return pts.to(device) if device is not None else pts


class ParallelLines(PointDataset):
    """Points (θ, U[0, 1]): a 1-D manifold in the plane (the lecture's parallel-lines example)."""

    def __init__(self, theta: float) -> None:
        super().__init__("parallel-lines", 2)
        self.theta = float(theta)

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        pts = torch.stack([torch.full((n,), self.theta), torch.rand(n)], dim=1)
        return pts.to(device) if device is not None else pts

    def bounds(self, margin: float = 0.25) -> np.ndarray:
        return np.array([[self.theta - 1.0, self.theta + 1.0], [-0.25, 1.25]])


class PointCloud(PointDataset):
    """A finite set of user points; batches are drawn uniformly with replacement."""

    def __init__(self, points: np.ndarray, name: str = "points") -> None:
        super().__init__(name, points.shape[1])
        self.points = torch.as_tensor(points, dtype=torch.float32)

    def sample(self, n: int, device: torch.device | str | None = None) -> torch.Tensor:
        x = self.points[torch.randint(len(self.points), (n,))]
        return x.to(device) if device is not None else x


MAX_DIM = 1024  # data.max_dim: columns of a point file (toy sets have 1 or 2; flattened 28x28 images 784)


def _too_wide(p: Path, columns: int | None, max_dim: int) -> DataError:
    """``columns``: the count, or None when only "more than ``max_dim``" is known (a CSV read no further)."""
    has = "" if columns is None else f"{columns:,} columns, "
    return DataError(f"point file '{p}' has {has}more than data.max_dim={max_dim:,} columns (points are rows of a few "
                     "coordinates: is the file transposed?); raise data.max_dim if the columns are real")


def _npy_shape(p: Path) -> tuple[int, ...] | None:
    """The shape in a .npy header (nothing else is read), or None when it is not a .npy header."""
    try:
        with p.open("rb") as f:
            fmt = np.lib.format
            read = {(1, 0): fmt.read_array_header_1_0, (2, 0): fmt.read_array_header_2_0}.get(fmt.read_magic(f))
            return None if read is None else tuple(int(d) for d in read(f)[0])
    except Exception:  # not a .npy file: np.load below says so
        return None


def _csv_columns(p: Path, max_dim: int, chunk: int = 1 << 16) -> int:
    """Columns of the first data line of a CSV (comma count + 1), reading no further than needed: stops
    once the count passes ``max_dim`` (a one-line file of millions of numbers is never read whole)."""
    commas, started, comment = 0, False, False
    with p.open("rb") as f:
        while True:
            block = f.read(chunk)
            if not block:
                return commas + 1 if started and not comment else 0
            for line_end, part in enumerate(block.split(b"\n")):
                if line_end:  # a newline ended the line before this part
                    if started and not comment:
                        return commas + 1
                    commas, started, comment = 0, False, False
                if not started and part.strip():
                    started, comment = True, part.lstrip().startswith(b"#")
                if started and not comment:
                    commas += part.count(b",")
                    if commas + 1 > max_dim:
                        return commas + 1


def load_points(path: str | Path, max_dim: int = MAX_DIM) -> np.ndarray:
    """Read a user point set from .npy or .csv: shape (N, D) or (N,), finite, non-empty, D <= ``max_dim``
    (checked from the .npy header or the CSV's first line before anything is loaded).

    Raises:
        DataError: with one sentence naming the file and what is wrong with it.
    """
    p = Path(path)
    if not str(path):
        raise DataError("the 'points' data set needs a file: set data.path=FILE.npy (or .csv)")
    if not p.is_file():
        raise DataError(f"point file '{p}' does not exist")
    suffix = p.suffix.lower()
    try:
        if suffix == ".npy":
            shape = _npy_shape(p)
            if shape is not None and len(shape) == 2 and shape[1] > max_dim:
                raise _too_wide(p, shape[1], max_dim)
            arr = np.load(p, allow_pickle=False)
        elif suffix in (".csv", ".txt"):
            if p.stat().st_size == 0:
                raise DataError(f"point file '{p}' is empty")
            if _csv_columns(p, max_dim) > max_dim:
                raise _too_wide(p, None, max_dim)
            with warnings.catch_warnings():  # "input contained no data": reported below as an empty file
                warnings.simplefilter("ignore", UserWarning)
                arr = np.loadtxt(p, delimiter=",", ndmin=2, dtype=np.float64)
        else:
            raise DataError(f"point file '{p}' must be .npy or .csv, not '{suffix or 'no extension'}'")
    except DataError:
        raise
    except Exception as exc:  # numpy raises ValueError/OSError/EOFError with long texts
        raise DataError(f"point file '{p}' could not be read: {first_line(exc)}") from None
    if not isinstance(arr, np.ndarray):  # np.load gives an NpzFile for a zip archive named .npy
        getattr(arr, "close", lambda: None)()
        raise DataError(f"point file '{p}' is not a .npy array (it looks like a {type(arr).__name__})")
    if arr.dtype.kind not in "biuf":
        raise DataError(f"point file '{p}' must hold numbers, not {arr.dtype}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise DataError(f"point file '{p}' must have shape (N, D) or (N,), got {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise DataError(f"point file '{p}' is empty (shape {arr.shape})")
    if arr.shape[1] > max_dim:
        raise _too_wide(p, arr.shape[1], max_dim)
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise DataError(f"point file '{p}' has {int(bad.sum())} row(s) with NaN or infinite values "
                        f"(first: row {int(np.argmax(bad))})")
    return arr.astype(np.float64)


RING8_MEANS = np.array([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)])
GRID25_MEANS = np.array([[x, y] for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=np.float64)


@DATASETS.register("gauss1d", description="N(-1, 1) in 1-D, the lecture's target learned from uniform noise")
def gauss1d(cfg: Any) -> PointDataset:
    return GaussianMixture("gauss1d", np.array([[-1.0]]), 1.0)


@DATASETS.register("bimodal1d", description="½N(-2, 0.5²) + ½N(2, 0.5²) in 1-D")
def bimodal1d(cfg: Any) -> PointDataset:
    return GaussianMixture("bimodal1d", np.array([[-2.0], [2.0]]), 0.5)


@DATASETS.register("ring8", description="8 Gaussians on the unit circle, std 0.01 (VEEGAN/PacGAN)")
def ring8(cfg: Any) -> PointDataset:
    return GaussianMixture("ring8", RING8_MEANS, 0.01)


@DATASETS.register("grid25", description="25 Gaussians on {-4,-2,0,2,4}², std 0.05 (VEEGAN/PacGAN)")
def grid25(cfg: Any) -> PointDataset:
    return GaussianMixture("grid25", GRID25_MEANS, 0.05)


@DATASETS.register("swissroll", description="2-D swiss roll")
def swissroll(cfg: Any) -> PointDataset:
    return SwissRoll()


@DATASETS.register("moons", description="two interleaved half circles")
def moons(cfg: Any) -> PointDataset:
    return TwoMoons()


@DATASETS.register("parallel-lines", description="(θ, U[0,1]) with θ = data.theta: disjoint supports")
def parallel_lines(cfg: Any) -> PointDataset:
    return ParallelLines(cfg.theta if cfg is not None else 0.0)


@DATASETS.register("points", description="your own points: data.path=FILE.npy or .csv, shape (N, D)")
def points(cfg: Any) -> PointDataset:
    return PointCloud(load_points(cfg.path if cfg is not None else "", int(getattr(cfg, "max_dim", MAX_DIM))))
