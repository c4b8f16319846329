"""Feature extractors for the image metrics: a name -> extractor registry, per-data-set defaults, a cache.

The image metrics (``metrics/images.py``: FID, Inception score, KID, precision/recall, density/coverage)
never look at pixels. They compare *features* of generated and real images computed by a fixed network,
and the Inception score also needs its class probabilities. An **extractor** is any callable

    fn(images: torch.Tensor of shape (N, C, H, W), values in [-1, 1])
        -> (features: (N, D) array, probs: (N, K) array of class probabilities, or None)

``features`` and ``probs`` may be numpy arrays or torch tensors; gankit converts them to float64 numpy
and checks them (finite, right shapes, probability rows >= 0 summing to 1).

Registering one::

    from gankit.metrics import features

    def my_features(images):                      # images: (N, C, H, W) in [-1, 1]
        h = my_net.embed(images)                  # (N, D)
        return h, my_net.head(h).softmax(dim=1)   # probabilities, or None when there are none

    features.register_extractor("my-net", my_features, datasets=["folder"])

After that the image metrics apply to the ``folder`` data set (``evaluate(["auto"], ...)`` includes
them), and ``features.extractor_for(dataset)`` returns the extractor. A data set object may also name its
extractor itself with an attribute ``feature_extractor = "my-net"``, which wins over the defaults.

:class:`FeatureExtractor` adds batching, eval mode, output checks and a cache around the callable (see
:mod:`gankit.metrics.feature_registry`, which holds the registry; every name of it is importable from here).

**Inception features (optional, never downloaded).** Inception-v3 FID/IS is the standard for natural
images (CIFAR-10, faces). gankit downloads no weights and does not depend on torchvision. If you have the
TorchScript port of the TF Inception graph that StyleGAN2-ADA and clean-fid use (file
``inception-2015-12-05.pt``, published by NVIDIA at
``https://nvlabs-fi-cdn.nvidia.com/stylegan2-ada-pytorch/pretrained/metrics/inception-2015-12-05.pt``),
fetch it yourself and plug it in::

    features.register_inception("/path/to/inception-2015-12-05.pt", datasets=["cifar10", "folder"])

It loads with ``torch.jit.load`` (no torchvision, no Python class definitions needed). Images are mapped
from [-1, 1] to uint8 as StyleGAN2-ADA does (``x * 127.5 + 128``, clamped, truncated), grayscale is
repeated to 3 channels, and the network resizes to 299x299 itself. Features are the 2,048-d pool
features (``return_features=True``); probabilities are its 1,008-way softmax without the output bias
(``no_output_bias=True``, as StyleGAN2-ADA computes the Inception score), so every image runs through the
network twice. A missing file (or a wrong ``sha256``) is a :class:`~gankit.errors.ConfigError`.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Generic, TypeVar

import torch

from gankit.errors import ConfigError, DataError
from gankit.fileio import sha256_of
from gankit.metrics.feature_registry import (
    BATCH_SIZE,
    CACHE_SIZE,
    EXTRACTORS,
    PIXEL_SCALE_LIMIT,
    ExtractorFn,
    FeatureExtractor,
    as_images,
    clear_cache,
    extract,
    extractor_for,
    get_extractor,
    register_extractor,
    set_default_extractor,
    unregister_extractor,
)

__all__ = [
    "BATCH_SIZE",
    "CACHE_SIZE",
    "EXTRACTORS",
    "PIXEL_SCALE_LIMIT",
    "ExtractorFn",
    "FeatureExtractor",
    "LazyModule",
    "as_images",
    "clear_cache",
    "extract",
    "extractor_for",
    "extractor_in_use",
    "get_extractor",
    "inception_extractor",
    "metric_keys_prefix",
    "module_extractor",
    "register_extractor",
    "register_inception",
    "resolve_extractor",
    "set_default_extractor",
    "unregister_extractor",
    "use_extractor",
]


NetT = TypeVar("NetT", bound=torch.nn.Module)


# ----------------------------------------------------------------------------------------------------
# ready-made wrappers
# ----------------------------------------------------------------------------------------------------


class _ModuleExtractor:
    """``module(x) -> (features, logits)`` turned into the extractor contract (softmax on the logits)."""

    def __init__(self, module: torch.nn.Module, forward: Callable[[torch.Tensor], Any] | None, softmax: bool):
        self.module = module
        self.forward = forward if forward is not None else module
        self.softmax = softmax

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        out = self.forward(images)
        if isinstance(out, torch.Tensor):
            return out.flatten(1), None
        feats, logits = out
        if logits is not None and self.softmax:
            logits = torch.softmax(logits.double(), dim=1)
        return feats.flatten(1), logits


def module_extractor(
    module: torch.nn.Module,
    forward: Callable[[torch.Tensor], Any] | None = None,
    softmax: bool = True,
) -> Callable[[torch.Tensor], Any]:
    """Wrap a classifier as an extractor.

    Args:
        module: the network (run in eval mode on its own device by :class:`FeatureExtractor`).
        forward: ``forward(images) -> (features, logits)`` or ``-> features``; default ``module`` itself.
        softmax: apply a softmax to the second output (set False when it already is probabilities).

    Returns:
        A callable for :func:`register_extractor` (pass ``gives_probs=False`` when there are no logits).
    """
    return _ModuleExtractor(module, forward, softmax)


def _load_torchscript(path: Path, what: str) -> Any:
    """``torch.jit.load`` on the CPU in eval mode; a corrupt or foreign file is a ConfigError."""
    try:
        with warnings.catch_warnings():  # torch >= 2.10 flags TorchScript as deprecated; it still loads
            warnings.simplefilter("ignore", DeprecationWarning)
            return torch.jit.load(str(path), map_location="cpu").eval()
    except Exception as exc:  # a corrupt or foreign file
        raise ConfigError(f"cannot load {what} '{path}' as TorchScript: {exc}") from None


class LazyModule(Generic[NetT]):
    """An extractor callable around a network loaded on its first call (shipped weights are read and their
    sha256 checked then, never at import): ``forward(module, images) -> (features, probs or None)``."""

    def __init__(self, load: Callable[[], NetT], forward: Callable[[Any, torch.Tensor], Any]) -> None:
        self._load, self._forward = load, forward
        self._net: NetT | None = None

    @property
    def module(self) -> NetT:
        if self._net is None:
            self._net = self._load()
        return self._net

    def __call__(self, images: torch.Tensor) -> Any:
        return self._forward(self.module, images)


class _InceptionTorchScript:
    """StyleGAN2-ADA's TorchScript Inception-v3 behind the extractor contract (loaded on first use)."""

    def __init__(self, path: Path):
        self.path = path
        self._net: Any = None

    @property
    def module(self) -> Any:
        if self._net is None:
            self._net = _load_torchscript(self.path, "Inception weights")
        return self._net

    def __call__(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        net = self.module
        x = (images * 127.5 + 128).clamp(0, 255).to(torch.uint8)  # StyleGAN2-ADA's mapping to bytes
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)
        if x.shape[1] != 3:
            raise DataError(f"Inception features need 1 or 3 channels, got {x.shape[1]}")
        feats = net(x, return_features=True)
        probs = net(x, no_output_bias=True)
        return feats.reshape(x.shape[0], -1), probs.reshape(x.shape[0], -1)


def inception_extractor(path: str | Path, sha256: str | None = None) -> Callable[[torch.Tensor], Any]:
    """An extractor callable for a local TorchScript Inception file (see the module docstring).

    Args:
        path: the ``inception-2015-12-05.pt`` file you obtained yourself. Nothing is downloaded.
        sha256: its expected sha256 (hex), checked when given.

    Raises:
        ConfigError: the file is missing, or its sha256 differs.
    """
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError(
            f"Inception weights file '{p}' not found; gankit never downloads weights: obtain the TorchScript "
            "file inception-2015-12-05.pt (StyleGAN2-ADA / clean-fid) yourself and pass its path"
        )
    if sha256 is not None:
        got = sha256_of(p)
        if got.lower() != sha256.lower():
            raise ConfigError(f"Inception weights file '{p}' has sha256 {got}, expected {sha256}")
    return _InceptionTorchScript(p)


def register_inception(
    path: str | Path,
    *,
    datasets: Iterable[str] = (),
    name: str = "inception",
    sha256: str | None = None,
    batch_size: int = 100,
    replace: bool = False,
) -> FeatureExtractor:
    """Register a local TorchScript Inception-v3 as the extractor ``name`` (default for ``datasets``).

    Raises:
        ConfigError: the file is missing or its sha256 differs (checked now; it is loaded on first use).
    """
    fn = inception_extractor(path, sha256)
    return register_extractor(
        name, fn, datasets=datasets, batch_size=batch_size, gives_probs=True, replace=replace,
        description=f"Inception-v3 pool features (2048-d) and softmax from {Path(path).name}",
    )


# ----------------------------------------------------------------------------------------------------
# choosing an extractor by name: eval.extractor, gankit eval --extractor
# ----------------------------------------------------------------------------------------------------


def _torchscript_features(net: Any, images: torch.Tensor) -> tuple[torch.Tensor, None]:
    """A user's TorchScript module ``images (N, C, H, W) in [-1, 1] -> features`` (or ``(features, logits)``)."""
    out = net(images)
    if isinstance(out, (tuple, list)):  # (features, logits): the features
        out = out[0]
    return out.reshape(images.shape[0], -1), None


def _path_and_sha(rest: str) -> tuple[str, str | None]:
    """'PATH' or 'PATH:SHA256' (a 64-digit hex suffix) -> (path, sha or None)."""
    head, sep, tail = rest.rpartition(":")
    if sep and len(tail) == 64 and all(c in "0123456789abcdefABCDEF" for c in tail):
        return head, tail
    return rest, None


SPEC_HELP = ("NAME (a registered extractor: " + "{names}" + "), inception:PATH[:SHA256] (a TorchScript Inception-v3 "
             "file you obtained) or torchscript:PATH[:SHA256] (your own TorchScript module: images in [-1, 1] -> "
             "features)")


def resolve_extractor(spec: str) -> FeatureExtractor:
    """The extractor a user names: a registered name, ``inception:PATH[:SHA256]`` or
    ``torchscript:PATH[:SHA256]`` (registered on the fly as ``inception`` / ``torchscript:FILE``; nothing is
    loaded until the first images arrive, but a missing file or a wrong sha256 is refused now).

    Raises:
        ConfigError: an unknown name or kind, a missing file, a sha256 mismatch.
    """
    spec = str(spec).strip()
    kind, sep, rest = spec.partition(":")
    if not sep:
        if spec not in EXTRACTORS:
            raise ConfigError(f"unknown feature extractor '{spec}'; give "
                              + SPEC_HELP.format(names=", ".join(sorted(EXTRACTORS)) or "none"))
        return EXTRACTORS[spec]
    path, sha = _path_and_sha(rest)
    if kind == "inception":
        return register_inception(path, sha256=sha, replace=True)
    if kind == "torchscript":
        p = Path(path).expanduser()
        if not p.is_file():
            raise ConfigError(f"TorchScript feature file '{p}' not found")
        if sha is not None and sha256_of(p).lower() != sha.lower():
            raise ConfigError(f"TorchScript feature file '{p}' has sha256 {sha256_of(p)}, expected {sha}")
        fn = LazyModule(lambda: _load_torchscript(p, "the feature module"), _torchscript_features)
        return register_extractor(f"torchscript:{p.name}", fn, gives_probs=False, replace=True,
                                  description=f"your TorchScript module {p.name} (features only)")
    raise ConfigError(f"unknown feature extractor kind '{kind}' in '{spec}'; give "
                      + SPEC_HELP.format(names=", ".join(sorted(EXTRACTORS)) or "none"))


def use_extractor(dataset: Any, spec: str | None) -> FeatureExtractor | None:
    """Make the extractor ``spec`` (:func:`resolve_extractor`; "" or None: keep the data set's default) the
    one the image metrics use on ``dataset`` (its ``feature_extractor`` attribute), and return the
    extractor now in force (None when the data set has none)."""
    if spec:
        dataset.feature_extractor = resolve_extractor(spec).name
    return extractor_for(dataset)


def extractor_in_use(dataset: Any, spec: str | None) -> str:
    """:func:`use_extractor` on an image data set (nothing on others); the extractor's name and description,
    "" for a data set without one."""
    if getattr(dataset, "kind", None) != "image":
        return ""
    ext = use_extractor(dataset, spec)
    return f"{ext.name} ({ext.description})" if ext is not None and ext.description else (ext.name if ext else "")


def metric_keys_prefix(dataset: Any) -> str:
    """The key prefix of the image metrics on ``dataset``'s features ("rand_" for the random embedding)."""
    ext = extractor_for(dataset)
    return ext.key_prefix if ext is not None else ""
