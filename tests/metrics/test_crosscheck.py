"""gankit's FID, KID and precision/recall against independent implementations on the same features.

FID and KID: torchmetrics' FrechetInceptionDistance and KernelInceptionDistance with a custom ``feature``
module (so no Inception weights, no torch-fidelity). Precision/recall: a reference written here from the
definition of Kynkäänniemi et al. 2019 with scikit-learn's exact nearest neighbours. Two feature sets: the
shipped digits classifier on real 8x8 digits, and the seeded random embedding on shapes-captions images.
Tolerances: FID and KID to 1e-6 relative (both float64; torchmetrics takes the eigenvalues of Σ1 Σ2, gankit
scipy's sqrtm), precision/recall exactly (the same k-NN balls)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit import config as C
from gankit.data import build_dataset
from gankit.metrics import features as F
from gankit.metrics import images as im

torchmetrics = pytest.importorskip("torchmetrics")
from torchmetrics.image.fid import FrechetInceptionDistance  # noqa: E402
from torchmetrics.image.kid import KernelInceptionDistance  # noqa: E402

RTOL = 1e-6


class _Given(torch.nn.Module):
    """A "feature network" that returns the rows it is given: both libraries see the very same features."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.num_features = dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.double()


def _feature_sets() -> list[tuple[str, np.ndarray, np.ndarray]]:
    out = []
    for data, extractor in (("digits", "digits-classifier"), ("shapes-captions", "random-conv")):
        ds = build_dataset(C.resolve(None, overrides=[f"data.name={data}"]).data)
        x = ds.images(torch.randperm(len(ds), generator=torch.Generator().manual_seed(0))[:1200])
        ext = F.get_extractor(extractor)
        fr, _ = ext(x[:600])
        ff, _ = ext((x[600:] * 0.8).clamp(-1, 1))  # a dimmer "generator": clearly apart from the reals
        out.append((extractor, ff, fr))
    return out


@pytest.fixture(scope="module")
def feature_sets():
    return _feature_sets()


def test_fid_and_kid_agree_with_torchmetrics(feature_sets) -> None:
    for name, ff, fr in feature_sets:
        dim = ff.shape[1]
        fid = FrechetInceptionDistance(feature=_Given(dim), normalize=False)
        fid.set_dtype(torch.float64)
        fid.update(torch.from_numpy(fr), real=True)
        fid.update(torch.from_numpy(ff), real=False)
        ours = im.fid_from_features(ff, fr)
        assert ours > 0 and float(fid.compute()) == pytest.approx(ours, rel=RTOL), name
        # one subset of every row: the whole-set unbiased MMD², no random subsets on either side
        kid = KernelInceptionDistance(feature=_Given(dim), subsets=1, subset_size=len(ff), normalize=False)
        kid.update(torch.from_numpy(fr), real=True)
        kid.update(torch.from_numpy(ff), real=False)
        theirs, _ = kid.compute()
        mean, std = im.kid(ff, fr, subsets=1, subset_size=len(ff))
        assert std == 0 and float(theirs) == pytest.approx(mean, rel=RTOL), name


def _reference_precision_recall(fake: np.ndarray, real: np.ndarray, k: int) -> tuple[float, float]:
    """Kynkäänniemi et al. 2019 from the definition: a point lies in a set's manifold when it is within the
    k-th nearest-neighbour distance (the point itself excluded) of some member of the set."""
    from sklearn.neighbors import NearestNeighbors

    def radii(x):
        d, _ = NearestNeighbors(n_neighbors=k + 1, algorithm="brute").fit(x).kneighbors(x)
        return d[:, k]  # column 0 is the point itself

    def inside(points, support):
        r = radii(support)
        d = np.sqrt(((points[:, None, :] - support[None, :, :]) ** 2).sum(-1))
        return (d <= r[None, :] * (1 + 1e-12)).any(axis=1)

    return float(inside(fake, real).mean()), float(inside(real, fake).mean())


def test_precision_recall_agree_with_the_definition(feature_sets) -> None:
    for name, ff, fr in feature_sets:
        ff, fr = ff[:300], fr[:300]
        p, r = im.precision_recall(fr, ff, k=im.PR_K)  # (real, fake)
        rp, rr = _reference_precision_recall(ff, fr, im.PR_K)
        assert (p, r) == (pytest.approx(rp, abs=1e-12), pytest.approx(rr, abs=1e-12)), name
        assert 0 < p < 1 or 0 < r < 1  # not a trivial agreement
