"""Checkpoints and safe file writes.

- Every write is atomic: a temporary file in the same directory, fsync, then ``os.replace``; a crash or a
  full disk mid-write leaves the previous file intact.
- Checkpoints are loaded with ``torch.load(weights_only=True)``: a pickle that would run code is refused.
- A checkpoint carries a format marker; truncated, corrupt or foreign files get a one-line error, and so
  does a gankit checkpoint whose tensors do not fit the run (:func:`restore`).
"""

from __future__ import annotations

import io
import pickle
import random
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gankit.errors import CheckpointError
from gankit.fileio import atomic_write_bytes, atomic_write_text  # noqa: F401  (re-exported)

FORMAT = "gankit-checkpoint"
VERSION = 1


def rng_state() -> dict[str, Any]:
    """Every RNG the training loop may touch, in a form ``weights_only`` loading accepts."""
    np_state = np.random.get_state()
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
    np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Atomically write a checkpoint dict (tensors, numbers, strings, lists, dicts only)."""
    buf = io.BytesIO()
    torch.save({"format": FORMAT, "version": VERSION, **state}, buf)
    atomic_write_bytes(Path(path), buf.getvalue())


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a gankit checkpoint safely.

    Raises:
        CheckpointError: missing, truncated/corrupt, foreign, or containing objects that could run code.
    """
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"checkpoint '{path}' does not exist")
    try:
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
    if state.get("version") != VERSION:
        raise CheckpointError(f"checkpoint '{path}' has format version {state.get('version')}, this gankit reads {VERSION}")
    return state


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
