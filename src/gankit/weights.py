"""The networks gankit ships pretrained (MNIST and digits classifiers, shapes attribute classifier, text
encoder): saved as safetensors with their sha256 in a file beside them, and loaded only when it matches.

One loader for all of them, so each refuses a corrupt, truncated or foreign file with the same kind of
one-line :class:`~gankit.errors.CheckpointError` saying how to remake it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from safetensors import SafetensorError
from safetensors.torch import load, save
from torch import nn

from gankit.errors import CheckpointError
from gankit.fileio import sha256_of


def save_weights(net: nn.Module, path: str | Path, metadata: dict[str, str] | None = None) -> str:
    """Write ``net``'s weights to ``path`` as safetensors (with ``metadata``); returns their sha256."""
    data = save({k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}, metadata=metadata)
    Path(path).write_bytes(data)
    return sha256_of(data)


def recorded_sha256(sha_path: Path, what: str, retrain: str) -> str:
    """The sha256 recorded in ``sha_path`` (its first word).

    Raises:
        CheckpointError: the file is missing or does not start with a sha256.
    """
    try:
        text = sha_path.read_text(encoding="utf-8").split()
    except OSError:
        raise CheckpointError(f"the {what}'s checksum file '{sha_path}' is missing; {retrain}") from None
    if not text or len(text[0]) != 64:
        raise CheckpointError(f"the {what}'s checksum file '{sha_path}' holds no sha256; {retrain}")
    return text[0].lower()


def load_checked_weights(path: str | Path | None, shipped: Path, sha_file: str, net: nn.Module, what: str,
                         retrain: str, sha256: str | None = None, check_given: bool = False) -> Any:
    """Load safetensors weights into ``net`` and return it in eval mode on the CPU.

    ``path`` ("" or None: the ``shipped`` file) is checked against ``sha256`` when given, else against
    the one in ``sha_file`` beside it: always for the shipped file, for another file only with
    ``check_given``.

    Raises:
        CheckpointError: a missing or unreadable file, a missing checksum file, a sha256 mismatch, or
            weights of another shape.
    """
    p = Path(path) if path else shipped
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        raise CheckpointError(f"the {what} weights '{p}' cannot be read: the file is missing; {retrain}") from None
    except OSError as exc:
        raise CheckpointError(f"the {what} weights '{p}' cannot be read ({exc.strerror or exc}); {retrain}") from None
    sha = p.with_name(sha_file)
    want = sha256.lower() if sha256 else (recorded_sha256(sha, what, retrain) if not path or check_given else None)
    got = sha256_of(data)
    if want is not None and got != want:
        source = "the one given" if sha256 else f"the one in '{sha.name}'"
        raise CheckpointError(f"'{p}' ({what} weights) does not match its sha256 (it has {got}, {source} is "
                              f"{want}); {retrain}")
    try:
        net.load_state_dict(load(data), strict=True)
    except (SafetensorError, RuntimeError, ValueError, KeyError) as exc:
        raise CheckpointError(f"'{p}' does not hold {what} weights ({str(exc).splitlines()[0]}); {retrain}") from None
    return net.eval()
