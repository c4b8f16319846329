"""Vector arithmetic on a generator's latent space (Radford, Metz & Chintala 2016, DCGAN, section 6.3).

Radford et al. average the z of three samples that show a concept ("smiling woman"), then add and subtract
the averages: z = mean(A) − mean(B) + mean(C) ("smiling woman − neutral woman + neutral man") and G(z) shows
the combination ("smiling man"); uniform noise of scale ±0.25 added to z gives its neighbourhood (8 more
samples). They picked the samples by hand; here a shipped classifier picks them:

1. draw a pool of K latents z_1..z_K from the generator's prior and read every G(z_j) with the classifier;
2. a group ("big red circle", or the digit "7") keeps the latents whose image the classifier reads as the
   group with probability p(group | G(z)) = Π_h p_h(v_h | G(z)) >= ``threshold`` (one factor per attribute
   the group names; 1 for the digit classifier's single head), and ``per_group`` of them are drawn at random;
3. z = Σ_i s_i · mean_i over the expression's terms (s_i = ±1), and the neighbourhood is z + U(−ε, ε)^d.

With three latents per group (the paper's choice) and independent N(0, I) draws, mean(A) − mean(B) + mean(C)
has covariance (1/3 + 1/3 + 1/3) I = I: arithmetic on random groups lands exactly where the prior puts
mass, so a random z is the chance level for "does the result show the predicted combination".

The expression is group names joined by + and − ("big red circle - big red + big blue"); for the shapes
attribute classifier a group is a phrase of the caption grammar naming any subset of kind, colour, size and
position, for the MNIST classifier a digit 0-9. :func:`predict` reads what the arithmetic predicts per
attribute: the value whose signed count over the terms is 1 while every other value's is 0 ("big red circle −
big red + big blue": size big, colour blue, kind circle), none where the counts do not settle it (digits:
"7 − 1 + 3" predicts nothing).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import numpy as np
import torch
from torch import Tensor

from gankit.errors import ConfigError, DataError
from gankit.evalmode import eval_mode

if TYPE_CHECKING:
    from gankit.nets.capabilities import GeneratorNet

__all__ = ["DIGITS", "ArithmeticResult", "Reader", "digit_group", "shapes_group", "Term", "combine", "draw_pool",
           "group_probability", "latent_arithmetic", "parse_expression", "predict", "reader_for", "render", "select"]


@dataclass(frozen=True)
class Reader:
    """A classifier that reads groups: ``heads`` (attribute, its values); ``parse(name)`` -> {head: value};
    ``classify(images (N, C, H, W) in [-1, 1])`` -> one (N, V_h) probability tensor per head."""

    name: str
    heads: tuple[tuple[str, tuple[str, ...]], ...]
    parse: Callable[[str], dict[int, int]]
    classify: Callable[[Tensor], list[Tensor]]

    def describe(self, query: dict[int, int]) -> str:
        """{head: value} -> words, in the order of the heads ("big red circle" order for shapes)."""
        order = sorted(query, key=lambda h: (_SHAPES_ORDER.get(self.heads[h][0], h)))
        return " ".join(self.heads[h][1][query[h]] for h in order) or "(nothing)"


_SHAPES_ORDER = {"size": 0, "colour": 1, "kind": 2, "position": 3}  # reads as "big red circle top left"


@dataclass(frozen=True)
class Term:
    """One group of an expression: ``sign`` (+1/−1), its ``name`` as written, ``query`` {head: value}."""

    sign: int
    name: str
    query: dict[int, int]


def parse_expression(text: str, reader: Reader) -> list[Term]:
    """"A - B + C" -> terms. Signs are + and - (or the minus sign −); a leading sign is optional.

    Raises:
        ConfigError: an empty expression or term (``"A + - B"``, a trailing sign), or a group the reader
            cannot parse (unknown words, a digit outside 0-9), each in one line.
    """
    parts = re.split(r"\s*([+\-\u2212])\s*", text.strip())
    if parts and parts[0] == "":  # a leading sign
        parts = parts[1:]
    else:
        parts = ["+", *parts]
    terms = []
    for sign, name in zip(parts[0::2], parts[1::2], strict=True):
        if not name.strip():
            raise ConfigError(f"expression '{text}' has an empty term; write group names joined by + and -, "
                              "e.g. 'big red circle - big red + big blue'")
        try:
            query = reader.parse(name.strip())
        except DataError as exc:
            raise ConfigError(f"latent arithmetic ({reader.name}): {exc}") from None
        terms.append(Term(1 if sign == "+" else -1, name.strip(), query))
    if not terms:
        raise ConfigError("the expression is empty; write group names joined by + and -, e.g. 'big red circle - "
                          "big red + big blue'")
    return terms


def predict(terms: Sequence[Term], reader: Reader) -> dict[int, int]:
    """What the arithmetic predicts: per head, the value with signed count 1 when all others count 0."""
    out = {}
    for h, (_, values) in enumerate(reader.heads):
        counts = np.zeros(len(values), dtype=np.int64)
        for t in terms:
            if h in t.query:
                counts[t.query[h]] += t.sign
        if counts.sum() == 1 and (counts == 1).sum() == 1 and (counts == 0).sum() == len(values) - 1:
            out[h] = int(np.argmax(counts))
    return out


# ------------------------------------------------------------------------------------------- readers


def shapes_group(name: str) -> dict[int, int]:
    """A phrase of the caption grammar -> {attribute head: value} ("big red" -> colour and size)."""
    from gankit.data import captions as C

    found = C.phrase_attributes(name, strict=True)
    if not found:
        raise DataError(f"'{name}' names no attribute (e.g. 'big red circle')")
    return {h: names.index(found[a]) for h, (a, names) in enumerate(C.ATTRIBUTES) if a in found}


def digit_group(name: str) -> dict[int, int]:
    """"7" -> {0: 7}."""
    if name not in DIGITS:
        raise DataError(f"'{name}' is not a digit; MNIST groups are the classes 0-9 (e.g. '7 - 1 + 3')")
    return {0: int(name)}


DIGITS = tuple(str(d) for d in range(10))


def _shapes_reader() -> Reader:
    from gankit.data import captions as C
    from gankit.metrics.captions import load_attribute_classifier

    net = load_attribute_classifier()

    @torch.no_grad()
    def classify(x: Tensor) -> list[Tensor]:
        return [torch.softmax(h.double(), dim=1) for h in net(x.float())]

    return Reader("shapes attributes", C.ATTRIBUTES, shapes_group, classify)


def _digits_reader() -> Reader:
    from gankit.metrics.mnist_classifier import load_classifier

    net = load_classifier()

    @torch.no_grad()
    def classify(x: Tensor) -> list[Tensor]:
        return [torch.softmax(net(x.float())[1].double(), dim=1)]

    return Reader("MNIST digits", (("digit", DIGITS),), digit_group, classify)


def reader_for(data_name: str, shape: Sequence[int]) -> Reader:
    """The shipped classifier for a run's data: shapes-captions (attributes) or MNIST-shaped digits.

    Raises:
        ConfigError: data that no shipped classifier reads.
    """
    from gankit.metrics import features
    from gankit.metrics.mnist_classifier import EXTRACTOR_NAME

    shape = tuple(int(s) for s in shape)
    if data_name == "shapes-captions" and shape[0] == 3:
        return _shapes_reader()
    ext = features.extractor_for(data_name)
    if ext is not None and ext.name == EXTRACTOR_NAME and shape == (1, 28, 28):
        return _digits_reader()
    raise ConfigError(f"latent arithmetic needs a shipped classifier to pick its groups, and data '{data_name}' "
                      f"{shape} has none: it works on shapes-captions (attributes, e.g. 'big red circle - big red + "
                      "big blue'; preset dcgan-shapes) and MNIST (digits, e.g. '7 - 1 + 3'; preset dcgan-mnist)")


# ------------------------------------------------------------------------------------------ the steps


@dataclass
class Pool:
    """K latents (K, *latent), their images' per-head probabilities (one (K, V_h) tensor per head)."""

    z: Tensor
    probs: list[Tensor]


@torch.no_grad()
def render(net: torch.nn.Module, z: Tensor, batch: int = 1000) -> Tensor:
    """G(z) in eval mode, in batches (the net's mode is restored)."""
    with eval_mode(net):
        return torch.cat([net(z[i:i + batch]) for i in range(0, len(z), batch)]).float()


def draw_pool(net: torch.nn.Module, reader: Reader, pool: int, generator: torch.Generator) -> Pool:
    """Draw ``pool`` latents from the generator's prior and read their images."""
    if pool < 1:
        raise ConfigError(f"the pool of latents must be >= 1, got {pool}")
    z = cast("GeneratorNet", net).sample_noise(pool, generator=generator)
    probs: list[list[Tensor]] = []
    for i in range(0, pool, 1000):
        probs.append(reader.classify(render(net, z[i:i + 1000])))
    return Pool(z, [torch.cat([p[h] for p in probs]) for h in range(len(reader.heads))])


def group_probability(pool: Pool, query: dict[int, int]) -> Tensor:
    """(K,) p(group | G(z_j)) = Π_h p_h(v_h | G(z_j)) over the heads the group names."""
    p = torch.ones(len(pool.z), dtype=torch.float64)
    for h, v in query.items():
        p = p * pool.probs[h][:, v]
    return p


def select(pool: Pool, term: Term, per_group: int, threshold: float, generator: torch.Generator,
           reader: Reader | None = None) -> Tensor:
    """Indices of ``per_group`` latents drawn at random among those read as the group (p >= ``threshold``);
    all of them when there are fewer.

    Raises:
        ConfigError: no latent of the pool is read as the group (suggests a larger pool).
    """
    p = group_probability(pool, term.query)
    ok = torch.nonzero(p >= threshold)[:, 0]
    if len(ok) == 0:
        best = float(p.max()) if len(p) else 0.0
        raise ConfigError(f"no sample of the {len(pool.z)} drawn was read as '{term.name}' with probability >= "
                          f"{threshold:g} (best {best:.2f}); draw more with --pool (e.g. --pool {4 * len(pool.z)}) "
                          "or train the generator longer")
    return ok[torch.randperm(len(ok), generator=generator)[:per_group]]


def combine(means: Sequence[Tensor], signs: Sequence[int]) -> Tensor:
    """Σ_i s_i · mean_i, the arithmetic itself (in float64, returned in the means' dtype)."""
    if len(means) != len(signs) or not means:
        raise ConfigError(f"{len(means)} group means but {len(signs)} signs")
    out = torch.zeros_like(means[0], dtype=torch.float64)
    for m, s in zip(means, signs):
        out += int(s) * m.double()
    return out.to(means[0].dtype)


@dataclass
class ArithmeticResult:
    """What :func:`latent_arithmetic` computed (images (…, C, H, W) in [-1, 1]).

    Attributes:
        terms: the parsed expression.
        group_images: per term, G of its chosen latents, (m_i, C, H, W).
        mean_images: (T, C, H, W) G(mean_i) of each term.
        z: the result's latent, mean(A) − mean(B) + mean(C) ...
        images: (1 + k, C, H, W): G(z) first, then its neighbourhood G(z + U(−ε, ε)).
        readings: (1 + k, H) the classifier's value per head for each of ``images``.
        predicted: {head: value} the arithmetic predicts (see :func:`predict`).
        group_sizes: latents of the pool read as each group (before drawing ``per_group``).
        reader: the classifier that picked the groups and read the result.
    """

    terms: list[Term]
    group_images: list[np.ndarray]
    mean_images: np.ndarray
    z: Tensor
    images: np.ndarray
    readings: np.ndarray
    predicted: dict[int, int]
    group_sizes: list[int]
    reader: Reader

    def reads(self, i: int = 0) -> str:
        """What the classifier reads on ``images[i]`` (0: the result), in words."""
        return self.reader.describe({h: int(v) for h, v in enumerate(self.readings[i])})

    def prediction(self) -> str:
        """What the arithmetic predicts, in words ("" when it predicts nothing)."""
        return self.reader.describe(self.predicted) if self.predicted else ""

    def agrees(self) -> np.ndarray:
        """(1 + k,) bool: the classifier reads the predicted value on every predicted head of each image."""
        heads = list(self.predicted)
        return (self.readings[:, heads] == np.array([self.predicted[h] for h in heads])).all(axis=1)


def read(reader: Reader, images: Tensor) -> np.ndarray:
    """(N, H) the classifier's most probable value per head."""
    return torch.stack([p.argmax(1) for p in reader.classify(images)], dim=1).numpy()


def latent_arithmetic(net: torch.nn.Module, expression: str | Sequence[Term], reader: Reader, pool: int = 2000,
                      per_group: int = 3, threshold: float = 0.9, neighbours: int = 8, noise: float = 0.25,
                      seed: int = 0) -> ArithmeticResult:
    """Radford et al.'s latent arithmetic with groups picked by ``reader`` (see the module docstring).

    Args:
        net: an unconditional generator (``sample_noise`` + forward).
        expression: "A - B + C", or already parsed terms.
        reader: the classifier (:func:`reader_for`).
        pool: latents drawn and read to find each group's members.
        per_group: latents averaged per group (3 in the paper).
        threshold: probability the classifier must give the group.
        neighbours: extra samples around the result, z + U(−noise, noise) per coordinate.
        noise: half-width of that uniform noise (0.25 in the paper).
        seed: everything random (the pool, the draws within groups, the neighbourhood).

    Raises:
        ConfigError: a bad expression, a conditional generator, an empty group, out-of-range options.
    """
    if hasattr(net, "labels_of") or "text" in inspect.signature(cast("GeneratorNet", net).sample_noise).parameters:
        raise ConfigError("latent arithmetic needs an unconditional generator (its latent holds a class or a caption "
                          "here); use a plain GAN run such as preset dcgan-shapes or dcgan-mnist")
    if per_group < 1 or neighbours < 0 or noise < 0 or not 0.0 <= threshold <= 1.0:
        raise ConfigError(f"need per_group >= 1, neighbours >= 0, noise >= 0 and 0 <= threshold <= 1; got "
                          f"{per_group}, {neighbours}, {noise}, {threshold}")
    terms = parse_expression(expression, reader) if isinstance(expression, str) else list(expression)
    gen = torch.Generator(device="cpu").manual_seed(seed)
    bank = draw_pool(net, reader, pool, gen)
    chosen = [select(bank, t, per_group, threshold, gen) for t in terms]
    sizes = [int((group_probability(bank, t.query) >= threshold).sum()) for t in terms]
    means = [bank.z[c].mean(0) for c in chosen]
    z = combine(means, [t.sign for t in terms])
    around = z + noise * (2 * torch.rand((neighbours, *z.shape), generator=gen, dtype=z.dtype) - 1)
    images = render(net, torch.cat([z[None], around]))
    return ArithmeticResult(terms, [render(net, bank.z[c]).numpy() for c in chosen],
                            render(net, torch.stack(means)).numpy(), z, images.numpy(), read(reader, images),
                            predict(terms, reader), sizes, reader)
