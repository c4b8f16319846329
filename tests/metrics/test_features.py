"""Feature-extractor hook: registry, per-data-set defaults, batching, eval mode, output checks, cache, Inception."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.errors import ConfigError, DataError
from gankit.metrics import features as F


class _ImageSet:
    """The attributes the image metrics read from a data set."""

    kind = "image"

    def __init__(self, name: str = "fx-images", shape: tuple[int, ...] = (1, 4, 4), feature_extractor=None):
        self.name = name
        self.shape = shape
        self.dim = int(np.prod(shape))
        if feature_extractor is not None:
            self.feature_extractor = feature_extractor


@pytest.fixture
def registered():
    """Register extractors for one test and remove them afterwards."""
    names: list[str] = []

    def add(name, fn, **kw):
        names.append(name)
        return F.register_extractor(name, fn, **kw)

    yield add
    for name in names:
        F.unregister_extractor(name)


def _pool(images: torch.Tensor):
    """Features: per-channel mean and max (B, 2C); no class probabilities."""
    return torch.cat([images.mean(dim=(2, 3)), images.amax(dim=(2, 3))], dim=1), None


def _images(n: int, shape=(1, 4, 4), seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.rand((n, *shape), generator=g) * 2 - 1


def test_register_lookup_and_unregister(registered) -> None:
    ext = registered("fx-pool", _pool, datasets=["fx-images"], gives_probs=False)
    assert F.get_extractor("fx-pool") is ext and F.EXTRACTORS["fx-pool"] is ext
    assert F.extractor_for("fx-images") is ext  # by name
    assert F.extractor_for(_ImageSet()) is ext  # by object (its .name)
    assert F.extractor_for(_ImageSet("other")) is None and F.extractor_for("other") is None
    with pytest.raises(ConfigError, match="already registered"):
        F.register_extractor("fx-pool", _pool)
    with pytest.raises(ConfigError, match="callable"):
        F.register_extractor("fx-bad", 3)
    with pytest.raises(ConfigError, match="batch_size"):
        F.register_extractor("fx-bad", _pool, batch_size=0)
    # a data set can name its extractor itself; that wins over the defaults, and an unknown name is "none"
    other = registered("fx-other", _pool, gives_probs=False)
    assert F.extractor_for(_ImageSet(feature_extractor="fx-other")) is other
    assert F.extractor_for(_ImageSet(feature_extractor="fx-missing")) is None
    F.set_default_extractor("other", "fx-other")
    assert F.extractor_for("other") is other
    F.set_default_extractor("other", None)
    assert F.extractor_for("other") is None
    with pytest.raises(ConfigError, match="unknown feature extractor 'nope'.*fx-other"):
        F.get_extractor("nope")
    F.unregister_extractor("fx-pool")  # also drops its data set defaults
    assert F.extractor_for("fx-images") is None and "fx-pool" not in F.EXTRACTORS


def test_batches_without_grad_and_concatenates() -> None:
    sizes, grad = [], []

    def fn(images):
        sizes.append(images.shape[0])
        grad.append(torch.is_grad_enabled())
        return images.flatten(1).double().numpy(), None  # numpy output is fine too

    ext = F.FeatureExtractor("fx", fn, batch_size=500, gives_probs=False)
    x = _images(1234)
    f, p = ext(x)
    assert sizes == [500, 500, 234] and grad == [False, False, False] and p is None
    assert f.dtype == np.float64 and f.shape == (1234, 16)
    np.testing.assert_array_equal(f, x.flatten(1).double().numpy())


class _Net(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.drop = torch.nn.Dropout(0.5)
        self.body = torch.nn.Linear(16, 6)
        self.head = torch.nn.Linear(6, 3)
        self.seen_training: list[bool] = []

    def forward(self, x):
        self.seen_training.append(self.training)
        h = self.drop(self.body(x.flatten(1)))
        return h, self.head(h)


def test_module_extractor_runs_in_eval_mode_and_restores_it(registered) -> None:
    torch.manual_seed(0)
    net = _Net().train()
    ext = registered("fx-net", F.module_extractor(net), batch_size=7)
    x = _images(20)
    f1, p1 = ext(x)
    assert net.seen_training == [False, False, False] and net.training  # eval inside, train mode restored
    f2, _ = ext(x)
    np.testing.assert_array_equal(f1, f2)  # dropout off: deterministic
    assert f1.shape == (20, 6) and p1.shape == (20, 3)
    np.testing.assert_allclose(p1.sum(axis=1), 1.0, atol=1e-12)  # softmax of the logits
    with torch.no_grad():
        expected = torch.softmax(net.eval().head(net.body(x.flatten(1))).double(), dim=1)
    np.testing.assert_allclose(p1, expected, atol=1e-6)
    # a module whose forward gives features only
    body_only = F.module_extractor(net, forward=lambda x: net.body(x.flatten(1)))
    assert F.FeatureExtractor("fx2", body_only, gives_probs=False)(x)[0].shape == (20, 6)


@pytest.mark.parametrize(
    "out, match",
    [
        (lambda x: torch.zeros(len(x), 3), "pair"),
        (lambda x: (torch.zeros(len(x) + 1, 3), torch.full((len(x), 2), 0.5)), "shape"),
        (lambda x: (torch.full((len(x), 3), float("nan")), torch.full((len(x), 2), 0.5)), "non-finite"),
        (lambda x: (torch.zeros(len(x), 3), torch.randn(len(x), 2)), "logits"),
        (lambda x: (torch.zeros(len(x), 3), None), "no class probabilities"),
        (lambda x: (torch.zeros(len(x), 3), torch.full((len(x) - 1, 2), 0.5)), "probabilities of shape"),
    ],
)
def test_bad_extractor_outputs_are_data_errors(out, match) -> None:
    with pytest.raises(DataError, match=match):
        F.FeatureExtractor("fx", out)(_images(5))


def test_as_images_reshapes_rows_and_checks_the_scale() -> None:
    ds = _ImageSet(shape=(1, 4, 4))
    x = _images(6)
    flat = x.flatten(1).double().numpy()
    assert torch.equal(F.as_images(flat, ds), x)  # evaluate() hands metrics (N, C*H*W) rows
    assert F.as_images(x[:, 0], None).shape == (6, 1, 4, 4)  # (N, H, W): one channel
    assert float(F.as_images(x * 1.05, ds).abs().max()) == 1.0  # slightly out of range: clamped
    with pytest.raises(DataError, match=r"scaled to \[-1, 1\]; got values up to 25\d"):
        F.as_images((x + 1) * 127.5, ds)
    with pytest.raises(DataError, match="shape"):
        F.as_images(np.zeros((6, 15)), ds)
    with pytest.raises(DataError, match="NaN"):
        F.as_images(np.full((2, 16), np.nan), ds)


def test_extract_uses_the_data_set_extractor_and_caches(registered) -> None:
    calls = []

    def fn(images):
        calls.append(len(images))
        return _pool(images)

    registered("fx-count", fn, datasets=["fx-images"], gives_probs=False)
    ds = _ImageSet()
    x = _images(30)
    f1, p1 = F.extract(x, ds)
    f2, _ = F.extract(x.flatten(1).numpy(), ds)  # same pixels, other layout: a cache hit
    assert calls == [30] and f1 is f2 and p1 is None
    assert not f1.flags.writeable  # shared with the cache
    F.extract(_images(30, seed=1), ds)
    assert calls == [30, 30]
    registered("fx-count2", fn, datasets=["fx-images"], gives_probs=False)  # new default: recomputed
    F.extract(x, ds)
    assert calls == [30, 30, 30]
    F.clear_cache()
    F.extract(x, ds, extractor="fx-count")
    assert calls == [30, 30, 30, 30]
    with pytest.raises(ConfigError, match="no feature extractor for data set 'nobody'"):
        F.extract(x, _ImageSet("nobody"))


def test_inception_weights_missing_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "inception-2015-12-05.pt"
    with pytest.raises(ConfigError, match="not found; gankit never downloads"):
        F.register_inception(missing, datasets=["fx-rgb"])
    assert "inception" not in F.EXTRACTORS and F.extractor_for("fx-rgb") is None
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"not a torchscript file")
    with pytest.raises(ConfigError, match="sha256"):
        F.inception_extractor(bad, sha256="0" * 64)
    fn = F.inception_extractor(bad, sha256=hashlib.sha256(b"not a torchscript file").hexdigest())
    with pytest.raises(ConfigError, match="cannot load Inception weights"):
        fn(_images(2, (3, 4, 4)))


class _FakeInception(torch.nn.Module):
    """The calling convention of StyleGAN2-ADA's TorchScript Inception, on a tiny scale."""

    def forward(self, x: torch.Tensor, return_features: bool = False, no_output_bias: bool = False) -> torch.Tensor:
        assert x.dtype == torch.uint8 and x.shape[1] == 3
        xf = x.to(torch.float32)
        if return_features:
            return xf.mean(dim=(2, 3))  # (N, 3) channel means in 0..255
        logits = xf.mean(dim=(1, 2, 3)).unsqueeze(1) * torch.tensor([0.0, 0.01])
        return torch.softmax(logits, dim=1)


@pytest.mark.filterwarnings("ignore:`torch.jit:DeprecationWarning")
def test_inception_torchscript_path_with_a_stand_in_file(tmp_path: Path) -> None:
    path = tmp_path / "inception-2015-12-05.pt"
    torch.jit.save(torch.jit.script(_FakeInception()), str(path))
    ext = F.register_inception(path, datasets=["fx-rgb"], name="fx-inception",
                               sha256=hashlib.sha256(path.read_bytes()).hexdigest())
    try:
        assert F.extractor_for("fx-rgb") is ext and ext.gives_probs
        gray = torch.cat([torch.full((2, 1, 5, 5), -1.0), torch.full((2, 1, 5, 5), 1.0)])
        f, p = ext(gray)  # grayscale repeated to 3 channels, [-1, 1] -> bytes as StyleGAN2-ADA
        np.testing.assert_array_equal(f, [[0, 0, 0]] * 2 + [[255, 255, 255]] * 2)
        np.testing.assert_allclose(p.sum(axis=1), 1.0, atol=1e-6)
        with pytest.raises(DataError, match="1 or 3 channels"):
            ext(torch.zeros(2, 2, 5, 5))
    finally:
        F.unregister_extractor("fx-inception")
