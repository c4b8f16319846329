"""Checkpoints and safe file writes.

- Every write is atomic: a temporary file in the same directory, fsync, then ``os.replace``; a crash or a
  full disk mid-write leaves the previous file intact.
- Checkpoints are loaded with ``torch.load(weights_only=True)``: a pickle that would run code is refused.
- A checkpoint carries a format marker; truncated, corrupt or foreign files get a one-line error, and so
  does a gankit checkpoint whose tensors do not fit the run (:func:`restore`).
- A checkpoint (format version 2) and a generator export carry a sha256 of their content
  (:func:`content_digest`: every key, number, string and tensor byte); every loader recomputes it, so one
  flipped byte in a tensor or in the pickle is a one-line CheckpointError, not a silently changed weight.
  The zip members' CRC-32s of torch's container are checked too (before unpickling), which covers
  version-1 checkpoints (written before the digest, still read); exports without a digest (older runs)
  load unverified.
"""

from __future__ import annotations

import hashlib
import io
import pickle
import random
import re
import warnings
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import CheckpointError
from gankit.fileio import atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported)

FORMAT = "gankit-checkpoint"
VERSION = 2  # 2: with a "checksum" of the content; 1 (no checksum) is still read
READABLE = (1, 2)
CHECKSUM = "checksum"  # the key of a checkpoint's digest (an export's metadata uses the same key)


def _feed(h: Any, obj: Any) -> None:
    """Hash ``obj`` unambiguously: each value as its type tag, its length where it has one, and its
    content (dicts in their stored order: pickling keeps it)."""
    if isinstance(obj, torch.Tensor):
        t = obj.detach().to("cpu").contiguous()
        h.update(f"T{t.dtype}{tuple(t.shape)}{'g' if t.requires_grad else ''};".encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy() if t.numel() else b"")
    elif isinstance(obj, dict):
        h.update(f"D{len(obj)};".encode())
        for k, v in obj.items():
            _feed(h, k)
            _feed(h, v)
    elif isinstance(obj, (list, tuple)):
        h.update(f"{'L' if isinstance(obj, list) else 'U'}{len(obj)};".encode())
        for v in obj:
            _feed(h, v)
    elif isinstance(obj, (str, bytes)):
        data = obj.encode("utf-8", "surrogatepass") if isinstance(obj, str) else obj
        h.update(f"{'S' if isinstance(obj, str) else 'B'}{len(data)};".encode())
        h.update(data)
    elif isinstance(obj, float):
        h.update(f"F{obj.hex()};".encode())
    elif obj is None or isinstance(obj, (bool, int)):
        h.update(f"{type(obj).__name__[0]}{obj!r};".encode())
    else:  # torch.dtype, torch.Size and the like: their repr is exact
        h.update(f"O{type(obj).__name__}:{obj!r};".encode())


def content_digest(obj: Any) -> str:
    """``sha256:<hex>`` of a nested structure of tensors, numbers, strings, lists and dicts (a checkpoint's
    state without its checksum, or an export's tensors and metadata)."""
    h = hashlib.sha256()
    _feed(h, obj)
    return "sha256:" + h.hexdigest()


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop may touch, in a form ``weights_only`` loading accepts."""
    np_state: Any = np.random.get_state()  # MT19937's tuple: name, keys, pos, has_gauss, cached_gaussian
    py_state = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": np_state[0],
            "keys": torch.from_numpy(np_state[1].astype(np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "python": [py_state[0], list(py_state[1]), py_state[2]],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                         n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomically write a checkpoint dict (tensors, numbers, strings, lists, dicts only)."""
    state = {"format": FORMAT, "version": VERSION, **{k: v for k, v in state.items() if k != CHECKSUM}}
    state[CHECKSUM] = content_digest(state)
    buf = io.BytesIO()
    torch.save(state, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a gankit checkpoint safely.

    Raises:
        CheckpointError: missing, truncated/corrupt (a checksum that does not match), foreign, or containing
            objects that could run code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    _check_zip_crcs(path)
    try:
        with warnings.catch_warnings():  # torch warns (two lines) about pickle protocols it then refuses
            warnings.simplefilter("ignore", UserWarning)
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        # every weights_only failure mentions weights_only; only a refused global names one ("GLOBAL os.system")
        text = str(exc)
        unsafe = re.search(r"GLOBAL ([\w.]+)", text)
        if unsafe:
            raise CheckpointError(
                f"refusing to load '{path}': it holds Python objects ({unsafe.group(1)}) that could run code "
                "when unpickled"
            ) from None
        reason = re.search(r"Unsupported operand \d+", text)
        raise CheckpointError(f"checkpoint '{path}' is corrupt or truncated "
                              f"({reason.group(0) if reason else 'not a readable pickle'})") from None
    except Exception as exc:  # torch raises many types for damaged files (RuntimeError, EOFError, KeyError, ...)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CheckpointError(f"checkpoint '{path}' is corrupt or truncated ({first})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise CheckpointError(f"'{path}' is not a gankit checkpoint (no '{FORMAT}' marker)")
    if state.get("version") not in READABLE:
        raise CheckpointError(f"checkpoint '{path}' has format version {state.get('version')}, this gankit reads "
                              f"{', '.join(map(str, READABLE))}")
    verify_checkpoint(path, state)
    return state


def verify_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """The stored checksum matches the loaded content (version-1 files have none: only their CRC-32s).

    Raises:
        CheckpointError: a mismatch (one flipped byte is enough), or a version-2 file without a checksum.
    """
    stored = state.get(CHECKSUM)
    if stored is None and state.get("version") == 1:
        return
    actual = content_digest({k: v for k, v in state.items() if k != CHECKSUM})
    if stored != actual:
        why = "has no checksum" if stored is None else "does not match its checksum"
        raise CheckpointError(f"checkpoint '{path}' is corrupt: its content {why} (the file was damaged after "
                              "it was written)")


EXPORT_VERSION = "2"  # a generator export's metadata "version": 2 carries a checksum; none: older, unverified


def export_digest(tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> str:
    """:func:`content_digest` of a safetensors export: its tensors and metadata by name (safetensors does
    not keep the order), the checksum entry left out."""
    return content_digest({"tensors": {k: tensors[k] for k in sorted(tensors)},
                           "metadata": {k: meta[k] for k in sorted(meta) if k != CHECKSUM}})


def verify_export(path: Path, tensors: dict[str, torch.Tensor], meta: dict[str, str]) -> None:
    """An export's stored checksum matches its tensors and metadata; an export without one is accepted
    only when it also has no "version" (written before exports carried a checksum).

    Raises:
        CheckpointError: a mismatch, or a versioned export whose checksum is missing.
    """
    stored = meta.get(CHECKSUM)
    if stored is None and "version" not in meta:
        return
    if stored != export_digest(tensors, meta):
        why = "has no checksum" if stored is None else "does not match its checksum"
        raise CheckpointError(f"generator export '{path}' is corrupt: its content {why} (the file was damaged "
                              "after it was written)")


def _check_zip_crcs(path: Path) -> None:
    """Every member of torch's zip container matches its CRC-32 (files that are not zip archives are left
    to torch.load)."""
    try:
        if not zipfile.is_zipfile(path):
            return  # torch's legacy format: no CRCs to check
        with zipfile.ZipFile(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError, RuntimeError) as exc:
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise CheckpointError(f"checkpoint '{path}' is corrupt or truncated ({first})") from None
    if bad is not None:
        raise CheckpointError(f"checkpoint '{path}' is corrupt: zip member '{bad}' does not match its CRC-32")


TRAINING_KEYS = {"step": int, "recipe": dict, "rng": dict, "config": dict}  # what Trainer.state_dict writes


def load_training_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """:func:`load_checkpoint`, then check that it holds a trainer's state (``step``, ``recipe``, ``rng``,
    ``config`` of the right types).

    Raises:
        CheckpointError: as :func:`load_checkpoint`, or a gankit checkpoint that is not a training state.
    """
    state = load_checkpoint(path, map_location)
    bad = [k for k, tp in TRAINING_KEYS.items() if not isinstance(state.get(k), tp) or isinstance(state.get(k), bool)]
    if bad:
        raise CheckpointError(f"checkpoint '{path}' lacks a valid {', '.join(bad)}: it is not a training state "
                              "written by gankit's trainer")
    return state


def restore(target: Any, state: dict[str, Any], path: Path) -> None:
    """``target.load_state_dict(state)`` with a one-line CheckpointError when the tensors do not fit
    (another architecture, missing optimiser or EMA state, damaged RNG state)."""
    try:
        target.load_state_dict(state)
    except (RuntimeError, KeyError, ValueError, TypeError, IndexError, AttributeError) as exc:
        text = " ".join(str(exc).split()) or type(exc).__name__  # torch puts the useful part on line 2
        raise CheckpointError(f"checkpoint '{path}' does not fit this run's networks ({text[:300]})") from None
