"""The extractor registry behind :mod:`gankit.metrics.features`: names -> extractors, per-data-set defaults,
images in and checked features out, with a cache (the extractor contract is in that module's docstring).

What :class:`FeatureExtractor` adds around the callable:

- **batching**: images go through in batches of ``batch_size`` (500 by default) under
  ``torch.no_grad()``, so 10,000 samples never sit in one activation tensor;
- **eval mode**: when the callable is a ``torch.nn.Module`` (or an object with a ``module`` attribute
  that is one, as :func:`gankit.metrics.features.module_extractor` builds), it is put in eval mode for the call and its
  previous mode restored afterwards; the batches are moved to the module's device;
- **a small cache** (:func:`extract`): ``evaluate(["auto"], ...)`` runs four image metrics on the same
  samples, and periodic evaluation reuses one real set; features are cached by a hash of the exact input
  bytes and the extractor's identity (the last ``CACHE_SIZE`` inputs). The cache assumes an extractor's
  weights do not change after registration; if you change them in place, call :func:`clear_cache`.
"""

from __future__ import annotations

import hashlib
import itertools
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from gankit.errors import ConfigError, DataError
from gankit.evalmode import evaluating

BATCH_SIZE = 500
"""Images per extractor call."""
CACHE_SIZE = 4
"""Number of (extractor, input) feature results kept by :func:`extract`."""
PIXEL_SCALE_LIMIT = 2.0
"""Images with a value beyond +-2 are rejected as wrongly scaled (e.g. 0..255); others are clamped to [-1, 1]."""

ExtractorFn = Callable[[torch.Tensor], Any]
_serial = itertools.count()


@dataclass
class FeatureExtractor:
    """A registered extractor: the user's callable plus batching, eval mode and output checks.

    Args:
        name: registry name.
        fn: ``fn(images (B, C, H, W) in [-1, 1]) -> (features (B, D), probs (B, K) or None)``.
        batch_size: images per call of ``fn``.
        gives_probs: whether ``fn`` returns class probabilities (the Inception score needs them).
        description: one line for listings.
        key_prefix: put before the keys of the metrics on these features (``rand_`` for the random
            embedding: ``rand_fid``), so numbers on untrained features are never read as Inception's.
    """

    name: str
    fn: ExtractorFn
    batch_size: int = BATCH_SIZE
    gives_probs: bool = True
    description: str = ""
    key_prefix: str = ""
    serial: int = field(default_factory=lambda: next(_serial), init=False)

    def _module(self) -> torch.nn.Module | None:
        if isinstance(self.fn, torch.nn.Module):
            return self.fn
        mod = getattr(self.fn, "module", None)
        return mod if isinstance(mod, torch.nn.Module) else None

    def __call__(self, images: torch.Tensor) -> tuple[np.ndarray, np.ndarray | None]:
        """Features and class probabilities of ``images`` (N, C, H, W) in [-1, 1], in batches.

        Returns:
            features: (N, D) float64; probs: (N, K) float64 rows summing to 1, or None when
            ``gives_probs`` is False.

        Raises:
            DataError: the extractor returned the wrong shapes, non-finite values, or "probabilities"
                that are negative or do not sum to 1 (logits, most likely).
        """
        if images.ndim != 4 or images.shape[0] == 0:
            raise DataError(f"images must have shape (N, C, H, W) with N >= 1, got {tuple(images.shape)}")
        module = self._module()
        device = None
        if module is not None:
            param = next(itertools.chain(module.parameters(), module.buffers()), None)
            device = param.device if param is not None else None
        feats: list[np.ndarray] = []
        probs: list[np.ndarray] = []
        with evaluating(*[m for m in (module,) if m is not None]):
            for start in range(0, images.shape[0], self.batch_size):
                batch = images[start : start + self.batch_size]
                if device is not None:
                    batch = batch.to(device)
                f, p = self._check(self.fn(batch), batch.shape[0])
                feats.append(f)
                if p is not None:
                    probs.append(p)
        if any(f.shape[1] != feats[0].shape[1] for f in feats):
            raise DataError(f"extractor '{self.name}' returned a varying feature dimension")
        f_all = np.concatenate(feats)
        if not self.gives_probs:
            return f_all, None
        if any(p.shape[1] != probs[0].shape[1] for p in probs):
            raise DataError(f"extractor '{self.name}' returned a varying number of classes")
        return f_all, np.concatenate(probs)

    def _check(self, out: Any, n: int) -> tuple[np.ndarray, np.ndarray | None]:
        if not (isinstance(out, tuple) and len(out) == 2):
            raise DataError(f"extractor '{self.name}' must return a pair (features, probs or None)")
        f = _to_numpy(out[0])
        if f.ndim == 1:
            f = f[:, None]
        if f.ndim != 2 or f.shape[0] != n:
            raise DataError(f"extractor '{self.name}' returned features of shape {f.shape} for {n} images; "
                            f"expected ({n}, D)")
        if not np.isfinite(f).all():
            raise DataError(f"extractor '{self.name}' returned non-finite features")
        if not self.gives_probs:
            return f, None
        if out[1] is None:
            raise DataError(f"extractor '{self.name}' returned no class probabilities but was registered "
                            "with gives_probs=True")
        p = _to_numpy(out[1])
        if p.ndim != 2 or p.shape[0] != n:
            raise DataError(f"extractor '{self.name}' returned probabilities of shape {p.shape} for {n} images")
        if not np.isfinite(p).all() or (p < -1e-6).any() or not np.allclose(p.sum(axis=1), 1.0, atol=1e-3):
            raise DataError(f"extractor '{self.name}' returned class probabilities that are negative or do not "
                            "sum to 1 per row (logits? apply a softmax)")
        return f, np.clip(p, 0.0, None)


def _to_numpy(x: Any) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().to("cpu", torch.float64).numpy()
    return np.asarray(x, dtype=np.float64)


EXTRACTORS: dict[str, FeatureExtractor] = {}
"""Registered extractors by name."""
_DEFAULTS: dict[str, str] = {}  # data set name -> extractor name


def register_extractor(
    name: str,
    fn: ExtractorFn,
    *,
    datasets: Iterable[str] = (),
    batch_size: int = BATCH_SIZE,
    gives_probs: bool = True,
    description: str = "",
    replace: bool = False,
    key_prefix: str = "",
) -> FeatureExtractor:
    """Register ``fn`` as the extractor ``name`` and make it the default for ``datasets``.

    Args:
        name: extractor name.
        fn: ``fn(images (B, C, H, W) in [-1, 1]) -> (features (B, D), probs (B, K) or None)``; an
            ``nn.Module`` (or an object whose ``module`` attribute is one) is run in eval mode on its device.
        datasets: data set names (``dataset.name``) whose default extractor this becomes.
        batch_size: images per call.
        gives_probs: whether ``fn`` returns class probabilities (else the Inception score does not apply).
        description: one line for listings.
        replace: allow replacing an extractor of the same name (the feature cache is cleared).
        key_prefix: prefix of the metric keys on these features (``"rand_"``: untrained features).

    Returns:
        The :class:`FeatureExtractor`.

    Raises:
        ConfigError: ``name`` already registered (and not ``replace``), ``fn`` not callable, bad batch size.
    """
    if not callable(fn):
        raise ConfigError(f"extractor '{name}' must be callable")
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ConfigError(f"extractor batch_size must be a positive integer, got {batch_size!r}")
    if name in EXTRACTORS and not replace:
        raise ConfigError(f"feature extractor '{name}' is already registered (pass replace=True)")
    ext = FeatureExtractor(name, fn, batch_size, bool(gives_probs), description, str(key_prefix))
    EXTRACTORS[name] = ext
    for ds in datasets:
        _DEFAULTS[str(ds)] = name
    clear_cache()
    return ext


def unregister_extractor(name: str) -> None:
    """Remove the extractor ``name`` and every data set default that points to it (no error if absent)."""
    EXTRACTORS.pop(name, None)
    for ds in [d for d, e in _DEFAULTS.items() if e == name]:
        del _DEFAULTS[ds]
    clear_cache()


def get_extractor(name: str) -> FeatureExtractor:
    """The extractor called ``name``; an unknown name is a ConfigError listing the registered ones."""
    try:
        return EXTRACTORS[name]
    except KeyError:
        known = ", ".join(sorted(EXTRACTORS)) or "none registered"
        raise ConfigError(f"unknown feature extractor '{name}'; choose one of: {known}") from None


def set_default_extractor(dataset_name: str, extractor_name: str | None) -> None:
    """Make ``extractor_name`` the default for the data set ``dataset_name`` (None removes the default)."""
    if extractor_name is None:
        _DEFAULTS.pop(dataset_name, None)
        return
    get_extractor(extractor_name)
    _DEFAULTS[dataset_name] = extractor_name


def extractor_for(dataset: Any) -> FeatureExtractor | None:
    """The default extractor of a data set (object or name), or None when it has none.

    A data set object's ``feature_extractor`` attribute (an extractor name) wins over the per-name
    defaults; a name it gives that is not registered counts as none (so the image metrics do not apply).
    """
    if isinstance(dataset, str):
        name = _DEFAULTS.get(dataset)
    else:
        name = getattr(dataset, "feature_extractor", None)
        if name is None:
            name = _DEFAULTS.get(str(getattr(dataset, "name", "")))
    return EXTRACTORS.get(name) if name is not None else None


# ----------------------------------------------------------------------------------------------------
# images in, features out (with a cache)
# ----------------------------------------------------------------------------------------------------


def as_images(x: Any, dataset: Any = None) -> torch.Tensor:
    """Samples as a float32 (N, C, H, W) tensor in [-1, 1].

    ``metrics.evaluate`` hands metrics flat (N, dim) rows; they are reshaped to ``dataset.shape``
    (C, H, W) when it has three entries whose product is ``dim``. Values are clamped to [-1, 1] (as when
    saving images); a value beyond +-``PIXEL_SCALE_LIMIT`` means the images are on another scale
    (0..255) and is an error. So is a set of two or more images without a single negative value, unless
    ``dataset`` vouches for the range (its ``range_checked`` attribute is true: gankit's own image sets,
    whose generators end in tanh, and outside samples whose range :mod:`gankit.data.samples` converted):
    such images are almost surely in [0, 1], and reading them as [-1, 1] would give a wrong number.

    Raises:
        DataError: a shape that cannot be read as images, non-finite values, or a wrong value range.
    """
    if isinstance(x, torch.Tensor):
        t = x.detach().to("cpu", torch.float32)
    else:
        t = torch.as_tensor(np.asarray(x, dtype=np.float32))
    shape = tuple(getattr(dataset, "shape", ()) or ())
    if t.ndim == 2 and len(shape) == 3 and int(np.prod(shape)) == t.shape[1]:
        t = t.reshape(t.shape[0], *shape)
    elif t.ndim == 3:  # (N, H, W): one channel
        t = t[:, None]
    if t.ndim != 4 or t.shape[0] == 0:
        raise DataError(f"image samples must have shape (N, C, H, W) or (N, C*H*W) with the data set's "
                        f"shape {shape or '(C, H, W)'}; got {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise DataError("image samples contain NaN or infinite values")
    peak = float(t.abs().max())
    if peak > PIXEL_SCALE_LIMIT:
        raise DataError(f"image samples must be scaled to [-1, 1]; got values up to {peak:g}")
    if t.shape[0] >= 2 and float(t.min()) >= 0.0 and not getattr(dataset, "range_checked", False):
        raise DataError(f"image samples must be scaled to [-1, 1], but these {t.shape[0]} images have no negative "
                        "value: they look like [0, 1]; pass x * 2 - 1, or use gankit.api.evaluate_samples "
                        "(value_range='0,1') or `gankit eval --fake PATH --range 0,1`")
    return t.clamp(-1.0, 1.0)


_CACHE: OrderedDict[tuple, tuple[np.ndarray, np.ndarray | None]] = OrderedDict()


def clear_cache() -> None:
    """Forget every cached feature result."""
    _CACHE.clear()


def extract(x: Any, dataset: Any = None, extractor: FeatureExtractor | str | None = None
            ) -> tuple[np.ndarray, np.ndarray | None]:
    """Features and class probabilities of image samples, cached.

    Args:
        x: (N, C, H, W) images in [-1, 1], or flat (N, C*H*W) rows with ``dataset.shape`` = (C, H, W).
        dataset: the data set (its extractor is used unless ``extractor`` is given).
        extractor: an extractor object or name (default: :func:`extractor_for` ``(dataset)``).

    Returns:
        ``(features (N, D) float64, probs (N, K) float64 or None)``. Do not modify them in place: they
        are shared with the cache.

    Raises:
        ConfigError: no extractor for this data set.
        DataError: images or extractor outputs that are malformed.
    """
    ext: FeatureExtractor | None
    if isinstance(extractor, str):
        ext = get_extractor(extractor)
    else:
        ext = extractor if extractor is not None else extractor_for(dataset)
    if ext is None:
        ds = getattr(dataset, "name", dataset)
        raise ConfigError(f"no feature extractor for data set '{ds}'; register one with "
                          "gankit.metrics.features.register_extractor(name, fn, datasets=[...])")
    images = as_images(x, dataset)
    digest = hashlib.blake2b(np.ascontiguousarray(images.numpy()).data, digest_size=16).hexdigest()
    key = (ext.name, ext.serial, tuple(images.shape), digest)
    if key in _CACHE:
        _CACHE.move_to_end(key)
        return _CACHE[key]
    out = ext(images)
    for arr in out:
        if arr is not None:
            arr.setflags(write=False)
    _CACHE[key] = out
    while len(_CACHE) > CACHE_SIZE:
        _CACHE.popitem(last=False)
    return out
