"""Does a text-to-image generator draw what its caption says? An attribute classifier for shapes-captions.

:class:`AttributeNet` is a small CNN that reads the four attributes of a ``shapes-captions`` image —
kind, colour, size, position — with one softmax head each. gankit ships it trained on images of all 216
combinations (seeds apart from the data set's; the classifier is the measuring instrument, not the
model under test, so it may see the held-out pairs): ``metrics/weights/shapes_attributes.safetensors``,
sha256 checked on load, remade by ``python benchmarks/train_shapes_classifier.py`` (which refuses to
write weights below 95 % all-four-correct accuracy on fresh real images).

:func:`caption_match_rate` draws, for each combination of a set (seen or held-out), images from one
random caption of the grammar per sample (``net.sample_noise(n, text=captions)``) and reports the
fraction whose predicted attributes all equal the caption's ("match"), and per attribute. The same
numbers on real rendered images of those combinations (:func:`real_match_rate`) are the ceiling set by
the classifier's own errors.

Registered as the metric ``caption-match`` (``gankit eval``, end-of-training metrics.jsonl) for runs on
``shapes-captions`` whose generator takes text: unlike the other metrics it scores the generator itself
(``needs_net``), since it needs the caption behind each sample; the samples it is handed only set how
many images it draws.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from gankit.data import captions as C
from gankit.errors import DataError
from gankit.evalmode import eval_mode
from gankit.registry import METRICS
from gankit.weights import load_checked_weights, save_weights

__all__ = ["AttributeNet", "caption_match_metric", "caption_match_rate", "load_attribute_classifier", "match_rates",
           "open_attribute_entropy", "open_caption", "reading_entropy", "real_match_rate", "takes_text"]

WEIGHTS_FILE = "shapes_attributes.safetensors"
SHA_FILE = "shapes_attributes.sha256"
SIDE = 32
HEADS = tuple(len(names) for _, names in C.ATTRIBUTES)  # 3, 4, 2, 9
RETRAIN = "remake it with `python benchmarks/train_shapes_classifier.py`"


class AttributeNet(nn.Module):
    """(N, 3, S, S) in [-1, 1] (resized to 32 px) -> logits of kind, colour, size, position."""

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(
            nn.Conv2d(3, 16, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Flatten(), nn.Linear(64 * 4 * 4, 64), nn.ReLU(), nn.Linear(64, sum(HEADS)),
        )

    def features(self, x: Tensor) -> Tensor:
        """(N, 64) penultimate activations (after the ReLU): the features of classifier FID on shapes."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise DataError(f"the attribute classifier needs RGB images (N, 3, S, S), got {tuple(x.shape)}")
        if x.shape[-1] != SIDE:
            x = F.interpolate(x, size=(SIDE, SIDE), mode="bilinear", align_corners=False, antialias=True)
        return self.net[:-1](x)

    def forward(self, x: Tensor) -> list[Tensor]:
        return list(self.net[-1](self.features(x)).split(HEADS, dim=1))

    @torch.no_grad()
    def predict(self, x: Tensor, batch: int = 1000) -> Tensor:
        """(N, 4) predicted attribute indices."""
        out = []
        for i in range(0, len(x), batch):
            out.append(torch.stack([h.argmax(1) for h in self(x[i:i + batch].float())], dim=1))
        return torch.cat(out)


def save_attribute_classifier(net: AttributeNet, path: str | Path) -> str:
    """Write the weights as safetensors; returns their sha256."""
    return save_weights(net, path, {"format": "gankit-shapes-attributes"})


def weights_path() -> Path:
    return Path(str(resources.files("gankit.metrics").joinpath("weights", WEIGHTS_FILE)))


def load_attribute_classifier(path: str | Path | None = None) -> AttributeNet:
    """The shipped classifier (sha256 checked) or one from ``path``, in eval mode on the CPU (raises
    CheckpointError as :func:`gankit.weights.load_checked_weights`)."""
    return load_checked_weights(path, weights_path(), SHA_FILE, AttributeNet(), "attribute classifier",
                                RETRAIN)


def match_rates(pred: Tensor, target: Tensor) -> dict[str, float]:
    """'match' (all four right) and per-attribute accuracy of (N, 4) predictions against (N, 4) targets."""
    right = pred.long() == target.long()
    out = {"match": float(right.all(dim=1).float().mean())}
    out.update({name: float(right[:, k].float().mean()) for k, (name, _) in enumerate(C.ATTRIBUTES)})
    return out


def _draws(combos: np.ndarray, per_combo: int, seed: int) -> tuple[np.ndarray, list[str]]:
    attrs = np.repeat(np.asarray(combos).reshape(-1, 4), per_combo, axis=0)
    rng = np.random.default_rng(seed)
    return attrs, [C.caption(a, rng) for a in attrs]


@torch.no_grad()
def caption_match_rate(net: Any, combos: np.ndarray, per_combo: int = 10, seed: int = 0,
                       classifier: AttributeNet | None = None) -> dict[str, float]:
    """Generate ``per_combo`` images per combination from random grammar captions; classify them.

    Args:
        net: a text-conditioned generator (``sample_noise(n, generator=, text=)``), e.g. an exported StackGAN.
        combos: (K, 4) attribute indices (:func:`gankit.data.captions.seen_combinations` or held-out).
        per_combo: samples per combination.
        seed: captions, z and CA noise.
        classifier: default the shipped one.
    """
    clf = classifier or load_attribute_classifier()
    attrs, caps = _draws(combos, per_combo, seed)
    gen = torch.Generator().manual_seed(seed)
    device = next(net.parameters()).device
    images = []
    with eval_mode(net):
        for i in range(0, len(caps), 500):
            chunk = caps[i:i + 500]
            images.append(net(net.sample_noise(len(chunk), device=device, generator=gen, text=chunk)).cpu())
    return match_rates(clf.predict(torch.cat(images)), torch.from_numpy(attrs))


@torch.no_grad()
def real_match_rate(combos: np.ndarray, per_combo: int = 10, seed: int = 0, size: int = SIDE,
                    classifier: AttributeNet | None = None) -> dict[str, float]:
    """The same on real rendered images at ``size`` px (the classifier's ceiling)."""
    clf = classifier or load_attribute_classifier()
    attrs, _ = _draws(combos, per_combo, seed)
    x = torch.from_numpy(C.render(attrs, size, seed + 7)).float() / 127.5 - 1.0
    return match_rates(clf.predict(x), torch.from_numpy(attrs))


def reading_entropy(pred: Tensor, classes: int) -> float:
    """Entropy (nats) of the empirical distribution of (N,) class readings over ``classes`` values: 0 when all
    agree, ln(classes) when uniform."""
    p = torch.bincount(pred.long().flatten(), minlength=classes).double()
    p = p[p > 0] / p.sum()
    return float(-(p * p.log()).sum())


def open_caption(attrs: Sequence[int] | np.ndarray, open_attribute: str) -> str:
    """A caption naming every attribute of ``attrs`` (kind, colour, size, position indices) but
    ``open_attribute`` ('size' or 'position'): "a red circle at the top", "a big red circle"."""
    k, c, s, p = (names[int(i)] for (_, names), i in zip(C.ATTRIBUTES, attrs, strict=True))
    if open_attribute == "size":
        return f"a {c} {k} {C.where_phrase(p)}"
    if open_attribute == "position":
        return f"a {s} {c} {k}"
    raise DataError(f"a caption can leave open 'size' or 'position', not '{open_attribute}'")


def _open_rows(combos: np.ndarray, open_attribute: str) -> tuple[int, list[int], np.ndarray]:
    """(the open attribute's index, the named ones' indices, the distinct rows of ``combos`` without it)."""
    names = [name for name, _ in C.ATTRIBUTES]
    if open_attribute not in ("size", "position"):
        raise DataError(f"a caption can leave open 'size' or 'position', not '{open_attribute}'")
    k = names.index(open_attribute)
    named = [j for j in range(4) if j != k]
    return k, named, np.unique(np.asarray(combos).reshape(-1, 4)[:, named], axis=0)


@torch.no_grad()
def open_attribute_entropy(net: Any, combos: np.ndarray, open_attribute: str, per_caption: int = 20, seed: int = 0,
                           classifier: AttributeNet | None = None) -> dict[str, float]:
    """How varied are the samples where the caption says nothing? For every distinct combination of ``combos``
    without ``open_attribute`` ('size' or 'position'), draw ``per_caption`` images from the caption that names
    the other three (:func:`open_caption`) and read the open attribute with the classifier.

    With ``net=None`` the images are real renders of that caption instead, the open attribute drawn uniformly
    (as the data has it given the other three): the reference the samples' entropy is held against, with the
    same number of images per caption and the classifier's own errors.

    Returns:
        ``entropy``: the mean over captions of :func:`reading_entropy` of the open attribute's readings
        (nats); ``max``: ln of its number of values (the entropy of the data, where it is uniform given the
        other three); ``match``: the fraction of images whose three named attributes all read right.
    """
    k, named, rows = _open_rows(combos, open_attribute)
    clf = classifier or load_attribute_classifier()
    gen = torch.Generator().manual_seed(seed)
    rng = np.random.default_rng(seed)
    device = None if net is None else next(net.parameters()).device
    entropies, right = [], []
    with eval_mode(*([] if net is None else [net])):
        for row in rows:
            attrs = np.zeros((per_caption, 4), dtype=np.int64)
            attrs[:, named] = row
            if net is None:
                attrs[:, k] = rng.integers(0, HEADS[k], per_caption)
                x = torch.from_numpy(C.render(attrs, SIDE, int(rng.integers(1 << 30)))).float() / 127.5 - 1.0
            else:
                latent = net.sample_noise(per_caption, device=device, generator=gen,
                                          text=open_caption(attrs[0], open_attribute))
                x = net(latent).cpu()
            pred = clf.predict(x)
            entropies.append(reading_entropy(pred[:, k], HEADS[k]))
            right.append(float((pred[:, named] == torch.from_numpy(row)).all(dim=1).float().mean()))
    return {"entropy": float(np.mean(entropies)), "max": float(np.log(HEADS[k])), "match": float(np.mean(right))}


MATCH_SEED = 12  # captions, z and CA noise of the caption-match metric (fixed: the metric of a net is one number)


def takes_text(net: Any) -> bool:
    """Whether ``net`` draws latents for captions (``sample_noise(..., text=...)``): a text-to-image generator."""
    fn = getattr(net, "sample_noise", None)
    return fn is not None and "text" in inspect.signature(fn).parameters


def _is_shapes_captions(dataset: Any) -> bool:
    return str(getattr(dataset, "name", "")) == "shapes-captions" and getattr(dataset, "attributes", None) is not None


@METRICS.register(
    "caption-match",
    applies=_is_shapes_captions,
    needs_net=takes_text,
    description="shapes-captions: how often the shipped attribute classifier reads all four attributes of the "
                "caption a text-to-image sample was drawn for (seen and held-out combinations)",
)
def caption_match_metric(fake: Any, real: Any, dataset: Any, net: Any = None) -> dict[str, float]:
    """:func:`caption_match_rate` of ``net`` on the seen and the held-out combinations, about ``len(fake)``
    images in all (at least one per combination); ``fake`` and ``real`` are not scored.

    Returns:
        ``caption_match`` (all four attributes right, seen combinations), ``caption_<attribute>`` (each
        attribute), the same with ``_held_out`` for the held-out combinations, and ``caption_match_n``
        (images drawn).
    """
    if net is None or not takes_text(net):
        raise DataError("caption-match needs the text-to-image generator that drew the samples")
    combos = C.all_combinations()
    per_combo = max(1, round(len(fake) / len(combos)))
    clf = load_attribute_classifier()
    out: dict[str, float] = {}
    for suffix, part in (("", C.seen_combinations()), ("_held_out", C.held_out_combinations())):
        rates = caption_match_rate(net, part, per_combo, seed=MATCH_SEED, classifier=clf)
        out.update({f"caption_{key}{suffix}": value for key, value in rates.items()})
    out["caption_match_n"] = float(per_combo * len(combos))
    return out
