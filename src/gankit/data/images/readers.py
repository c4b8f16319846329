"""Readers of the published file formats: IDX (MNIST, Fashion-MNIST; LeCun et al. 1998) and the CIFAR-10
python batches (Krizhevsky 2009)."""

from __future__ import annotations

import gzip
import struct
import zlib
from pathlib import Path

import numpy as np

from gankit.data.images.unpickler import load_numpy_pickle
from gankit.errors import DataError

# ----------------------------------------------------------------------------------------- IDX files

# the IDX type byte -> the values' (big-endian) dtype, and back
_IDX_DTYPES: dict[int, np.dtype] = {code: np.dtype(t) for code, t in (
    (0x08, "u1"), (0x09, "i1"), (0x0B, ">i2"), (0x0C, ">i4"), (0x0D, ">f4"), (0x0E, ">f8"))}
_IDX_CODES = {dtype: code for code, dtype in _IDX_DTYPES.items()}


def _read_maybe_gzip(path: Path) -> bytes:
    data = path.read_bytes()
    if data[:2] == b"\x1f\x8b":
        try:
            return gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as exc:
            raise DataError(f"'{path}' is a damaged gzip file ({exc}); delete it and fetch it again") from None
    return data


def read_idx(path: str | Path) -> np.ndarray:
    """Read an IDX file (LeCun's MNIST format), gzipped or not, as a numpy array.

    Raises:
        DataError: naming the file when it is missing, truncated or not IDX.
    """
    p = Path(path)
    if not p.is_file():
        raise DataError(f"IDX file '{p}' does not exist")
    data = _read_maybe_gzip(p)
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"'{p}' is not an IDX file (bad magic number)")
    ndim = data[3]
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"IDX file '{p}' is truncated (header)")
    shape = struct.unpack(f">{ndim}I", data[4:header])
    dtype = _IDX_DTYPES[data[2]]
    expected = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    if len(data) - header != expected:
        raise DataError(f"IDX file '{p}' holds {len(data) - header} bytes of values, expected {expected} "
                        f"for shape {shape}")
    return np.frombuffer(data, dtype=dtype, offset=header).reshape(shape).astype(dtype.newbyteorder("="))


def encode_idx(array: np.ndarray) -> bytes:
    """The bytes of ``array`` as an (uncompressed) IDX file."""
    arr = np.asarray(array)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    if np.dtype(big) not in _IDX_CODES:
        raise ValueError(f"IDX cannot store dtype {arr.dtype}")
    header = bytes([0, 0, _IDX_CODES[np.dtype(big)], arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape)
    return header + np.ascontiguousarray(arr, dtype=big).tobytes()


def write_idx(path: str | Path, array: np.ndarray | bytes) -> None:
    """Write ``array`` (or already encoded IDX bytes) as an IDX file, gzipped when the name ends in .gz."""
    from gankit.fileio import atomic_write_bytes

    raw = array if isinstance(array, bytes) else encode_idx(array)
    if str(path).endswith(".gz"):
        raw = gzip.compress(raw, compresslevel=6, mtime=0)
    atomic_write_bytes(path, raw)


# ------------------------------------------------------------------------------------ CIFAR batches


def read_cifar_batch(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """One CIFAR-10 python batch -> uint8 images (N, 3, 32, 32) and int64 labels (N,), read safely."""
    p = Path(path)
    obj = load_numpy_pickle(p.read_bytes(), f"CIFAR-10 batch '{p}'", encoding="bytes")
    if not isinstance(obj, dict):
        raise DataError(f"CIFAR-10 batch '{p}' is not a dict")
    get = lambda key: obj.get(key.encode(), obj.get(key))  # noqa: E731  (Python 2 bytes keys, or str)
    data, labels = get("data"), get("labels")
    if not isinstance(data, np.ndarray) or data.ndim != 2 or data.shape[1] != 3072 or labels is None:
        raise DataError(f"CIFAR-10 batch '{p}' lacks data (N, 3072) and labels")
    y = np.asarray(labels, dtype=np.int64)
    if y.shape != (len(data),) or y.min(initial=0) < 0 or y.max(initial=0) > 9:
        raise DataError(f"CIFAR-10 batch '{p}' has {len(data)} images but labels {y.shape} outside 0..9")
    if data.dtype != np.uint8:
        if data.min(initial=0) < 0 or data.max(initial=0) > 255:
            raise DataError(f"CIFAR-10 batch '{p}' holds values outside 0..255")
        data = data.astype(np.uint8)
    return data.reshape(-1, 3, 32, 32), y  # rows are 1024 R, then G, then B, each row-major 32x32
