"""Captioned images for text-to-image GANs: gankit's ``shapes-captions`` set and user ``caption-folder``s.

``shapes-captions`` is made by gankit, deterministically, with Pillow: one shape per image on a black
background, described by four attributes

- kind: circle, square, triangle;
- colour: red, green, blue, yellow;
- size: small, big;
- position: a 3 x 3 grid (top left, top, top right, left, centre, right, bottom left, bottom, bottom right),

so there are 3 * 4 * 2 * 9 = 216 combinations. Each image gets ``CAPTIONS_PER_IMAGE`` English captions
from a small grammar ("a small red circle at the top left", "there is a large green square in the
middle", "a triangle in blue, tiny, at the bottom", ...), like the ten captions per image of the CUB and
Oxford-102 sets StackGAN was trained on (Reed et al. 2016). :func:`parse_caption` reads the attributes
back from any caption of the grammar (and from free text that names them).

Open captions: ``data.open_captions`` (default :data:`OPEN_CAPTIONS`, 0) more captions per image leave
attributes unsaid, in turn the size, the position and both (:data:`OPEN`): "a red circle at the top" is
the caption of big and of small red circles at the top, so a model trained on it may learn that a word
left out means any value (the CUB captions, too, often omit what they do not notice). With 0 every caption
names all four attributes; the full captions are the same whatever ``open_captions`` is.
:func:`phrase_attributes` reads what a caption names; ``dataset.named`` holds it per stored caption.

Held-out combinations: the (kind, colour) pairs in :data:`HELD_OUT` — yellow circles, green squares, blue
triangles — never occur in the training split (``data.split=train``); the test split
(``data.split=test``) holds only them, in every size and position. A model trained on the training split
has seen every kind, every colour, every size and every position, but never these three pairings, so
captions such as "a big yellow circle at the top" test whether it composes attributes.

Images are rendered at 4x the side and downsampled (box filter, anti-aliased edges) with a little
jitter of position (±1/32 of the side) and size (±6 %) so that no two images are identical. Everything
comes from fixed seeds (:data:`SEEDS`): the same images and captions on every machine, built once per
process and kept in memory (about 0.2 s per 1,000 images at 32 px).

Conditional batches: ``sample_with_labels(n)`` returns (images (n, 3, S, S) in [-1, 1], tokens (n, L)
int64): one caption of each image, drawn uniformly from its captions, as character indices
(:func:`tokenize`; 0 pads). ``dataset.attributes`` holds the (N, 4) attribute indices of every image.
``sample_caption_groups(g, m)`` draws g captions with m images each that fit them (StackGAN's
``model.caption_groups``: D sees how a caption's images spread where it leaves something open).
:func:`caption_pairs` draws pairs (a caption that may leave the size or position out, a full caption of the
same image): what StackGAN's ``model.caption_prior`` learns p(full caption | caption) from.

``caption-folder`` (``data.path=DIR``): the user's images (PNG/JPEG, searched recursively), each with a
text file of the same name (``bird.png`` + ``bird.txt``) holding one caption per line. An image without
its caption file, an empty caption file, or a folder without images is a one-line :class:`DataError`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from gankit.data.images import (
    MAX_PIXELS,
    ImageDataset,
    ImageTooLarge,
    _option,
    _size_and_channels,
    decode_image,
    scan_folder,
)
from gankit.errors import ConfigError, DataError, first_line
from gankit.registry import DATASETS

__all__ = [
    "ALPHABET", "ATTRIBUTES", "COLOURS", "HELD_OUT", "KINDS", "MAX_LEN", "OPEN", "OPEN_CAPTIONS", "POSITIONS", "SIZES",
    "COMPLETES", "PAIR_OMITS", "CaptionImages", "all_combinations", "caption", "caption_pairs", "caption_words",
    "captions_for", "check_readable",
    "completion_count", "completions", "detokenize", "distinct_draws",
    "parse_caption", "render", "seen_combinations", "held_out_combinations", "tokenize", "vocabulary", "where_phrase",
]

KINDS = ("circle", "square", "triangle")
COLOURS = ("red", "green", "blue", "yellow")
SIZES = ("small", "big")
POSITIONS = ("top left", "top", "top right", "left", "centre", "right", "bottom left", "bottom", "bottom right")
ATTRIBUTES = (("kind", KINDS), ("colour", COLOURS), ("size", SIZES), ("position", POSITIONS))
HELD_OUT = (("circle", "yellow"), ("square", "green"), ("triangle", "blue"))  # (kind, colour) never trained on

RGB = {"red": (225, 40, 40), "green": (40, 190, 60), "blue": (50, 90, 235), "yellow": (235, 215, 40)}
RADIUS = {"small": 0.14, "big": 0.25}  # of the side: 4.5 / 8 px at 32 px
GRID = (0.24, 0.5, 0.76)  # cell centres, as fractions of the side
SEEDS = {"train": 2017, "test": 2018}
SPLIT_SIZE = {"train": 6000, "test": 1200}
CAPTIONS_PER_IMAGE = 5  # naming all four attributes
OPEN = (("size",), ("position",), ("size", "position"))  # what the open captions of an image leave unsaid, in turn
OPEN_CAPTIONS = 0  # open captions per image by default (3 is the measured option: BENCHMARKS.md)

# ------------------------------------------------------------------------------------------- text

ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789 ,.;:'-!?"
PAD, UNKNOWN = 0, 1  # token 0 pads, 1 is any character outside the alphabet
VOCAB = 2 + len(ALPHABET)
MAX_LEN = 64  # characters kept of a caption
_LOOKUP = np.full(129, UNKNOWN, dtype=np.int64)  # code point -> index (>= 128: unknown)
_LOOKUP[[ord(c) for c in ALPHABET]] = np.arange(2, VOCAB)


def tokenize(texts: str | Sequence[str], max_len: int = MAX_LEN) -> Tensor:
    """Captions -> (n, max_len) int64 character indices: lower-cased, unknown characters -> 1, padded with 0.

    Raises:
        DataError: an empty caption (nothing but white space).
    """
    if isinstance(texts, str):
        texts = [texts]
    out = np.zeros((len(texts), max_len), dtype=np.int64)
    for i, t in enumerate(texts):
        t = " ".join(str(t).lower().split())
        if not t:
            raise DataError("a caption is empty; write a sentence such as 'a small red circle at the top left'")
        codes = np.frombuffer(t[:max_len].encode("utf-32-le"), dtype=np.uint32)
        out[i, : len(codes)] = _LOOKUP[np.minimum(codes, len(_LOOKUP) - 1)]
    return torch.from_numpy(out)


def detokenize(tokens: Tensor) -> list[str]:
    """(n, L) indices -> captions (unknown characters come back as '?'; padding is dropped)."""
    chars = np.array(list("\0?" + ALPHABET))[tokens.reshape(-1, tokens.shape[-1]).long().cpu().numpy()]
    return ["".join(row).replace("\0", "") for row in chars.tolist()]


_WORD_RE = re.compile(r"[a-z0-9'-]+")
SHOWN_WORDS = 60  # known words listed in an unknown-word error


def caption_words(text: str) -> list[str]:
    """The words of a caption: runs of letters, digits, apostrophes and hyphens of its lower-cased text."""
    return _WORD_RE.findall(str(text).lower())


def vocabulary(tokens: Tensor) -> set[str]:
    """The words of (n, L) caption tokens (e.g. a StackGAN generator's caption bank); padding rows add none."""
    return {w for t in detokenize(tokens.long()) for w in caption_words(t)}


def check_readable(texts: str | Sequence[str], known: set[str], max_len: int = MAX_LEN) -> None:
    """A caption a text encoder trained on captions with the words ``known`` can read, or one DataError line
    naming what it has never seen: unknown words, characters outside :data:`ALPHABET`, text past ``max_len``.

    Without this a caption such as "a purple hexagon" still gives images, conditioned on whatever the
    encoder makes of strange characters.
    """
    for text in [texts] if isinstance(texts, str) else texts:
        flat = " ".join(str(text).lower().split())
        problems = []
        new = list(dict.fromkeys(w for w in caption_words(flat) if w not in known))
        if new:
            shown = sorted(known)[:SHOWN_WORDS]
            problems.append(f"words the text encoder has never seen: {', '.join(new)} (it knows "
                            f"{', '.join(shown)}{', ...' if len(known) > len(shown) else ''})")
        odd = list(dict.fromkeys(c for c in flat if c not in ALPHABET))
        if odd:
            problems.append(f"characters it cannot read: {' '.join(odd)}")
        if len(flat) > max_len:
            problems.append(f"{len(flat)} characters, of which it reads the first {max_len} ('{flat[:max_len]}')")
        if problems:
            raise DataError(f"caption '{text}' has " + "; and ".join(problems))


# ---------------------------------------------------------------------------------------- grammar

SIZE_WORDS = {"small": ("small", "little", "tiny"), "big": ("big", "large")}
KIND_WORDS = {"circle": ("circle", "disc"), "square": ("square",), "triangle": ("triangle",)}
TEMPLATES = (
    "a {size} {colour} {kind} {where}",
    "there is a {size} {colour} {kind} {where}",
    "{where}, a {size} {colour} {kind}",
    "a {kind} in {colour}, {size}, {where}",
    "a {colour} {kind} {where}, {size}",
)


def _where_phrases(position: str) -> tuple[str, ...]:
    if position == "centre":
        return ("in the centre", "in the middle", "at the center")
    corner = " " in position
    return (f"at the {position}", f"in the {position} corner" if corner else f"on the {position}",
            f"in the {position}" if corner else f"at the {position} edge")


def where_phrase(position: str) -> str:
    """The grammar's first phrase for a position: "at the top left", "in the centre"."""
    return _where_phrases(position)[0]


def captions_for(kind: str, colour: str, size: str, position: str) -> list[str]:
    """Every caption the grammar makes for one combination (sorted, no duplicates)."""
    out = {t.format(size=s, colour=colour, kind=k, where=w)
           for t in TEMPLATES for s in SIZE_WORDS[size] for k in KIND_WORDS[kind] for w in _where_phrases(position)}
    return sorted(out)


def _tidy(text: str) -> str:
    """A template filled with empty slots, made a sentence again: "a circle in red, , at the top" -> "a circle
    in red, at the top"; "at the top, a  red circle" keeps its words; leading and trailing commas go."""
    text = re.sub(r"\s*,(\s*,)*\s*", ", ", " ".join(text.split()))
    return text.strip(" ,")


def caption(attrs: Sequence[int], rng: np.random.Generator, omit: Sequence[str] = ()) -> str:
    """One random caption of the grammar for attribute indices (kind, colour, size, position).

    Args:
        omit: attributes the caption leaves unsaid, any of 'size' and 'position' (the kind and the colour
            are always named); the same draws from ``rng`` whatever is omitted.
    """
    bad = set(omit) - {"size", "position"}
    if bad:
        raise DataError(f"a caption can leave out the size or the position, not {', '.join(sorted(bad))}")
    k, c, s, p = (names[int(i)] for (_, names), i in zip(ATTRIBUTES, attrs, strict=True))
    t, a, b, w = rng.integers(0, 1 << 30, 4)
    sizes, kinds, wheres = SIZE_WORDS[s], KIND_WORDS[k], _where_phrases(p)
    text = TEMPLATES[t % len(TEMPLATES)].format(size="" if "size" in omit else sizes[a % len(sizes)], colour=c,
                                                kind=kinds[b % len(kinds)],
                                                where="" if "position" in omit else wheres[w % len(wheres)])
    return _tidy(text) if omit else text


_WORD = {w: ("size", s) for s, ws in SIZE_WORDS.items() for w in ws}
_WORD.update({w: ("kind", k) for k, ws in KIND_WORDS.items() for w in ws})
_WORD.update({c: ("colour", c) for c in COLOURS})
_WORD.update({w: ("kind", k) for k in KINDS for w in (k + "s",)})


_NAMING = frozenset(_WORD) | {"top", "bottom", "left", "right", "centre", "center", "middle"}  # words naming a value


@functools.lru_cache(maxsize=1)
def _function_words() -> frozenset[str]:
    """The grammar's words that name no attribute ("a", "at", "the", "corner", ...), from its own captions."""
    words: set[str] = set()
    for t in TEMPLATES:
        words |= set(re.findall(r"[a-z]+", t.format(size="", colour="", kind="", where="")))
    for p in POSITIONS:
        words |= {w for phrase in _where_phrases(p) for w in re.findall(r"[a-z]+", phrase)}
    return frozenset(words - _NAMING)


def phrase_attributes(text: str, strict: bool = False) -> dict[str, str]:
    """The attributes a phrase names, any subset of {'kind', 'colour', 'size', 'position'} ("big red" ->
    size and colour).

    Words are matched whole (synonyms included: little, tiny, large, disc, middle, center); the position is
    read from top/bottom and left/right ("at the bottom" is the bottom centre cell).

    Args:
        text: a caption or a shorter phrase.
        strict: every word must be one of the grammar's (attribute words and its function words such as
            "a", "at", "the"); free text is allowed otherwise.

    Raises:
        DataError: two different values of one attribute, or (``strict``) words outside the grammar.
    """
    words = re.findall(r"[a-z]+", text.lower())
    if strict:
        known = _NAMING | _function_words()
        unknown = [w for w in dict.fromkeys(re.findall(r"[^\s,]+", text.lower())) if w not in known]
        if unknown:
            sizes = ", ".join(w for ws in SIZE_WORDS.values() for w in ws)
            raise DataError(f"'{text}': unknown word{'s' if len(unknown) > 1 else ''} "
                            f"{', '.join(repr(w) for w in unknown)}; attribute words are {', '.join(KINDS)}, "
                            f"{', '.join(COLOURS)}, {sizes}, top, bottom, left, right, centre")
    found: dict[str, str] = {}
    for w in words:
        if w in _WORD:
            attr, value = _WORD[w]
            if found.get(attr, value) != value:
                raise DataError(f"'{text}' names two {attr}s ({found[attr]} and {value})")
            found[attr] = value
    vertical = {w for w in words if w in ("top", "bottom")}
    horizontal = {w for w in words if w in ("left", "right")}
    centre = any(w in ("centre", "center", "middle") for w in words)
    if len(vertical) > 1 or len(horizontal) > 1:
        raise DataError(f"'{text}' names two positions")
    if vertical or horizontal:
        found["position"] = " ".join([*vertical, *horizontal])
    elif centre:
        found["position"] = "centre"
    return {a: found[a] for a, _ in ATTRIBUTES if a in found}


def parse_caption(text: str) -> dict[str, str]:
    """The attributes a caption names: {'kind', 'colour', 'size', 'position'} (:func:`phrase_attributes`).

    Raises:
        DataError: a caption that names no kind, colour, size or position, or two different values of one.
    """
    found = phrase_attributes(text)
    missing = [a for a, _ in ATTRIBUTES if a not in found]
    if missing:
        raise DataError(f"caption '{text}' names no {' and no '.join(missing)} "
                        "(e.g. 'a small red circle at the top left')")
    return found


@functools.lru_cache(maxsize=4096)
def _is_complete(text: str) -> bool:
    try:
        return len(phrase_attributes(text)) == len(ATTRIBUTES)
    except DataError:  # two values of one attribute: not a caption that pins the image down
        return False


def require_attributes(dataset: Any, option: str = "model.caption_groups", off: str = "1",
                       need: str = "to know which images fit a caption", named: bool = True) -> None:
    """Raise the one-line ConfigError of ``option`` (set to ``off`` to go without) unless ``dataset`` has its
    images' attributes (and, with ``named``, what each caption names): shapes-captions, not a caption-folder."""
    if getattr(dataset, "attributes", None) is None or (named and getattr(dataset, "named", None) is None):
        raise ConfigError(f"{option} needs {need} (shapes-captions); "
                          f"{getattr(dataset, 'name', type(dataset).__name__)} does not: set {option}={off}")


def complete_captions(tokens: Tensor) -> Tensor:
    """(n, L) caption tokens -> (n,) bool: which captions name all four attributes (:func:`phrase_attributes`);
    open captions ("a red circle at the top") and free text that names fewer are False."""
    return torch.tensor([_is_complete(t) for t in detokenize(tokens)], dtype=torch.bool)


COMPLETES = {"size": ("size",), "position": ("position",), "both": ("size", "position")}  # model.completion_on


def completion_count(unsaid: str) -> int:
    """How many different full captions complete a caption with ``unsaid`` left out: 2 sizes, 9 cells, 18 both."""
    return int(np.prod([len(dict(ATTRIBUTES)[name]) for name in COMPLETES[unsaid]]))


def distinct_draws(counts: Sequence[int], k: int, rng: np.random.Generator) -> np.ndarray:
    """k different values of attributes with ``counts`` values each: (len(counts), k) indices, column i the i-th
    value, uniform over ordered k-tuples of different values. Each value is drawn uniformly (attribute by
    attribute), and every draw equal to another is drawn again, all of a coinciding group (for k = 2 this is
    rejection sampling of the pair), until none coincide; the rule uses only equality, so no tuple is favoured.

    Raises:
        ValueError: k < 1, or more values asked for than there are."""
    if not 1 <= k <= int(np.prod(counts)):
        raise ValueError(f"cannot draw {k} different values out of {int(np.prod(counts))}")
    draws = np.zeros((len(counts), k), dtype=np.int64)
    redo = np.ones(k, dtype=bool)
    while redo.any():
        for row, n in enumerate(counts):
            draws[row, redo] = rng.integers(0, n, int(redo.sum()))
        _, inverse, repeats = np.unique(draws.T, axis=0, return_inverse=True, return_counts=True)
        redo = repeats[inverse.reshape(-1)] > 1
    return draws


def completions(tokens: Tensor, unsaid: str, k: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """For each full caption of ``tokens`` (n, L): the caption with ``unsaid`` left out ('size', 'position' or
    'both'; "a big red circle at the top" -> "a red circle at the top") and k full captions that complete it
    with k different values of what it leaves out (:func:`distinct_draws`; for the size and k = 2: one small,
    one big, in random order). Returns (open (n, L), completions (k, n, L)) tokens.

    Raises:
        DataError: a caption that does not name all four attributes (:func:`parse_caption`).
        ValueError: k above :func:`completion_count` (unsaid)."""
    omit = COMPLETES[unsaid]
    names = [name for name, _ in ATTRIBUTES]
    idx = [names.index(name) for name in omit]
    counts = [len(ATTRIBUTES[j][1]) for j in idx]
    opened: list[str] = []
    completed: list[list[str]] = [[] for _ in range(k)]
    for text in detokenize(tokens):
        attrs = np.array(attribute_indices(parse_caption(text)))
        opened.append(caption(attrs.tolist(), rng, omit))
        values = distinct_draws(counts, k, rng)
        for i in range(k):
            full = attrs.copy()
            full[idx] = values[:, i]
            completed[i].append(caption(full.tolist(), rng))
    return tokenize(opened), torch.stack([tokenize(c) for c in completed])


PAIR_OMITS = ((), *OPEN)  # what the first caption of a caption_pairs pair leaves out, in equal shares


def caption_pairs(dataset: CaptionImages, n: int, rng: np.random.Generator) -> tuple[Tensor, Tensor]:
    """``n`` pairs of captions of one image each, for a prior over full captions given a caption (StackGAN's
    ``model.caption_prior``): a stored image drawn uniformly; the second caption one of its stored captions
    that name all four attributes; the first, in equal shares (:data:`PAIR_OMITS`), that same caption (a full
    caption maps to itself) or a fresh one of the grammar (:func:`caption`) that leaves out the size, the
    position or both. Returns tokens ((n, L), (n, L)) int64.

    Raises:
        ConfigError: a data set without its images' attributes (:func:`require_attributes`).
    """
    require_attributes(dataset, "model.caption_prior", "false", "to know its images' attributes")
    assert dataset.attributes is not None and dataset.named is not None  # what require_attributes checked
    full = dataset.named.all(dim=2).numpy()  # (N, K): the stored captions that name everything
    idx = rng.integers(0, len(dataset), n)
    attrs = dataset.attributes.numpy()
    texts: list[str | None] = []
    complete = []
    for i in idx.tolist():
        omit = PAIR_OMITS[int(rng.integers(len(PAIR_OMITS)))]
        complete.append(dataset.tokens[i, int(rng.choice(np.flatnonzero(full[i])))].long())
        texts.append(caption(attrs[i].tolist(), rng, omit) if omit else None)
    second = torch.stack(complete)
    first = second.clone()
    written = [k for k, t in enumerate(texts) if t is not None]
    if written:
        first[written] = tokenize([t for t in texts if t is not None])
    return first, second


def attribute_indices(attrs: dict[str, str]) -> tuple[int, int, int, int]:
    """{'kind': 'circle', ...} -> (kind, colour, size, position) indices."""
    return tuple(names.index(attrs[a]) for a, names in ATTRIBUTES)  # type: ignore[return-value]


def all_combinations() -> np.ndarray:
    """(216, 4) every (kind, colour, size, position) index combination, kind slowest."""
    grids = np.meshgrid(*(np.arange(len(names)) for _, names in ATTRIBUTES), indexing="ij")
    return np.stack([g.ravel() for g in grids], axis=1)


def is_held_out(combos: np.ndarray) -> np.ndarray:
    """(N,) bool: the (kind, colour) pair of each row is in :data:`HELD_OUT`."""
    combos = np.asarray(combos).reshape(-1, 4)
    pairs = {(KINDS.index(k), COLOURS.index(c)) for k, c in HELD_OUT}
    return np.array([(int(a), int(b)) in pairs for a, b in combos[:, :2]], dtype=bool)


def seen_combinations() -> np.ndarray:
    """(162, 4) the combinations of the training split."""
    c = all_combinations()
    return c[~is_held_out(c)]


def held_out_combinations() -> np.ndarray:
    """(54, 4) the combinations of the test split, never in training."""
    c = all_combinations()
    return c[is_held_out(c)]


# -------------------------------------------------------------------------------------- rendering


def render(attrs: np.ndarray, size: int, seed: int, jitter: bool = True) -> np.ndarray:
    """Draw one shape per row of ``attrs`` (N, 4): uint8 (N, 3, size, size), reproducible from ``seed``."""
    from PIL import Image, ImageDraw

    attrs = np.asarray(attrs).reshape(-1, 4)
    rng = np.random.default_rng(seed)
    big = 4 * size
    out = np.empty((len(attrs), 3, size, size), dtype=np.uint8)
    for i, (k, c, s, p) in enumerate(attrs):
        dx, dy = rng.uniform(-1, 1, 2) / 32 if jitter else (0.0, 0.0)
        scale = rng.uniform(0.94, 1.06) if jitter else 1.0
        cx, cy = (GRID[int(p) % 3] + dx) * big, (GRID[int(p) // 3] + dy) * big
        r = RADIUS[SIZES[int(s)]] * scale * big
        im = Image.new("RGB", (big, big), (0, 0, 0))
        draw = ImageDraw.Draw(im)
        fill = RGB[COLOURS[int(c)]]
        kind = KINDS[int(k)]
        if kind == "circle":
            draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=fill)
        elif kind == "square":
            h = 0.85 * r  # a square of the same area as a circle of radius ~0.96 r
            draw.rectangle([cx - h, cy - h, cx + h, cy + h], fill=fill)
        else:  # upright triangle inscribed in the circle of radius r
            draw.polygon([(cx, cy - r), (cx - 0.866 * r, cy + 0.5 * r), (cx + 0.866 * r, cy + 0.5 * r)], fill=fill)
        small = im.resize((size, size), Image.Resampling.BOX)
        out[i] = np.asarray(small, dtype=np.uint8).transpose(2, 0, 1)
    return out


@functools.lru_cache(maxsize=8)
def _shapes_split(split: str, size: int, n: int, open_captions: int = OPEN_CAPTIONS
                  ) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """(pixels uint8 (n, 3, S, S), attributes int64 (n, 4), tokens uint8 (n, K, L), named bool (n, K, 4)) with
    K = CAPTIONS_PER_IMAGE + open_captions: the full captions first, then the open ones (:data:`OPEN` in turn,
    drawn from a generator of their own, so the full captions do not depend on ``open_captions``)."""
    seed = SEEDS[split]
    rng = np.random.default_rng(seed)
    combos = seen_combinations() if split == "train" else held_out_combinations()
    attrs = combos[np.arange(n) % len(combos)]  # every combination equally often
    attrs = attrs[rng.permutation(n)]
    pixels = render(attrs, size, seed + 1)
    caps = [caption(a, rng) for a in attrs for _ in range(CAPTIONS_PER_IMAGE)]
    k = CAPTIONS_PER_IMAGE + open_captions
    tokens = tokenize(caps).to(torch.uint8).reshape(n, CAPTIONS_PER_IMAGE, MAX_LEN)
    named = torch.ones(n, k, 4, dtype=torch.bool)
    if open_captions:
        open_rng = np.random.default_rng(seed + 2)
        omits = [OPEN[j % len(OPEN)] for j in range(open_captions)]
        more = [caption(a, open_rng, omit) for a in attrs for omit in omits]
        tokens = torch.cat([tokens, tokenize(more).to(torch.uint8).reshape(n, open_captions, MAX_LEN)], dim=1)
        names = [name for name, _ in ATTRIBUTES]
        for j, omit in enumerate(omits):
            for a in omit:
                named[:, CAPTIONS_PER_IMAGE + j, names.index(a)] = False
    return torch.from_numpy(pixels), torch.from_numpy(attrs.astype(np.int64)), tokens, named


# --------------------------------------------------------------------------------------- data sets


class CaptionImages(ImageDataset):
    """Stored images (uint8) with several captions each; conditional batches are (images, tokens).

    Args:
        name: registry name.
        pixels: (N, C, S, S) uint8.
        tokens: (N, K, L) uint8 character indices, K captions per image (rows of zeros: no caption,
            never drawn when the image has at least one).
        attributes: (N, 4) int64 attribute indices (shapes-captions), or None.
        named: (N, K, 4) bool, which of the four attributes each caption names (shapes-captions), or None.
    """

    def __init__(self, name: str, pixels: Tensor, tokens: Tensor, attributes: Tensor | None = None,
                 named: Tensor | None = None) -> None:
        super().__init__(name, tuple(pixels.shape[1:]), 255.0)  # num_classes = 0: the condition is text
        self.pixels = pixels
        self.tokens = tokens
        self.attributes = attributes
        self.named = named
        self.counts = (tokens != PAD).any(dim=2).sum(dim=1).clamp_min(1)  # captions per image

    def __len__(self) -> int:
        return int(self.pixels.shape[0])

    def images(self, idx: Tensor | None = None) -> Tensor:
        """Stored images (all, or rows ``idx``) in [-1, 1]."""
        return self.to_unit(self.pixels if idx is None else self.pixels[idx])

    def _draw(self, n: int, device: torch.device | None) -> tuple[Tensor, Tensor | None]:
        idx = torch.randint(len(self), (n,))
        x = self.pixels[idx]
        return (x if device is None else x.to(device)), idx

    def sample_with_labels(self, n: int, device: torch.device | str | None = None) -> tuple[Tensor, Tensor]:
        """``n`` random images and one random caption of each, as (n, L) int64 tokens (torch's global RNG)."""
        x, idx = self._draw(n, None if device is None else torch.device(device))
        assert idx is not None
        j = (torch.rand(n) * self.counts[idx]).long()
        y = self.tokens[idx, j].long()
        return self.to_unit(x), (y if device is None else y.to(device))

    def sample_caption_groups(self, groups: int, m: int, device: torch.device | str | None = None,
                              generator: torch.Generator | None = None) -> tuple[Tensor, Tensor]:
        """``groups`` captions with ``m`` images each that fit the caption: (images (groups·m, C, S, S) in
        [-1, 1], tokens (groups·m, L) int64), row i of group i mod ``groups`` (the layout of
        :class:`gankit.nets.remedies.MinibatchStd`).

        A caption is drawn as :meth:`sample_with_labels` draws one (a random image, one of its captions); its
        ``m`` images are drawn uniformly (without replacement where enough exist) from every stored image whose
        attributes agree with it on what the caption names: for "a red circle at the top" red circles at the
        top of both sizes, for a full caption renders of the one combination (differing by jitter only).

        Raises:
            ConfigError: a data set that does not know its images' attributes (a caption-folder).
        """
        require_attributes(self)
        assert self.attributes is not None and self.named is not None  # what require_attributes checked
        idx = torch.randint(len(self), (groups,), generator=generator)
        j = (torch.rand(groups, generator=generator) * self.counts[idx]).long()
        said = self.named[idx, j]  # (groups, 4): the attributes each caption names
        fits = ((self.attributes[None] == self.attributes[idx][:, None]) | ~said[:, None]).all(dim=2)  # (groups, N)
        members = torch.empty(groups, m, dtype=torch.long)  # (groups, m) stored images
        enough = fits.sum(dim=1) >= m
        for rows, again in ((enough, False), (~enough, True)):  # with replacement only where fewer than m fit
            if rows.any():
                members[rows] = torch.multinomial(fits[rows].float(), m, replacement=again, generator=generator)
        x = self.pixels[members.t().reshape(-1)]  # member k of group g at row k · groups + g
        y = self.tokens[idx, j].long().repeat(m, 1)
        if device is not None:
            x, y = x.to(device), y.to(device)
        return self.to_unit(x), y

    def caption_bank(self, k: int, seed: int = 0) -> Tensor:
        """``k`` training captions (k, L) int64, drawn under ``seed`` (what an unconditional draw conditions on)."""
        gen = torch.Generator().manual_seed(seed)
        idx = torch.randint(len(self), (k,), generator=gen)
        j = (torch.rand(k, generator=gen) * self.counts[idx]).long()
        return self.tokens[idx, j].long()


def shapes_captions_dataset(split: str = "train", size: int = 32, n: int = 0,
                            open_captions: int = OPEN_CAPTIONS) -> CaptionImages:
    """The ``shapes-captions`` split at ``size`` px (``n`` images; 0: the split's standard size), each image with
    ``open_captions`` captions that leave the size, the position or both unsaid besides its full ones."""
    if split not in SEEDS:
        raise ConfigError(f"data.split must be train or test, got '{split}'")
    if size < 8:
        raise ConfigError(f"shapes-captions needs data.image_size >= 8, got {size}")
    if open_captions < 0:
        raise ConfigError(f"data.open_captions must be >= 0 (captions per image that omit size or position), "
                          f"got {open_captions}")
    pixels, attrs, tokens, named = _shapes_split(split, size, n or SPLIT_SIZE[split], open_captions)
    return CaptionImages("shapes-captions", pixels, tokens, attrs, named)


# test_iid=False: the test split holds out (kind, colour) pairs, so it is no real-vs-real floor for the training data
@DATASETS.register("shapes-captions", kind="image", splits=("train", "test"), captions=True, test_iid=False,
                   description="gankit's captioned shapes: 3 kinds x 4 colours x 2 sizes x 9 positions, 32x32 RGB; "
                               "test = held-out (kind, colour) pairs")
def shapes_captions(cfg: Any) -> CaptionImages:
    size, channels = _size_and_channels(cfg, 32, 3)
    if channels != 3:
        raise ConfigError(f"shapes-captions is RGB (the colour is in the caption); data.channels={channels} "
                          "is not allowed")
    return shapes_captions_dataset(str(_option(cfg, "split", "train")), size,
                                   open_captions=int(_option(cfg, "open_captions", OPEN_CAPTIONS)))


def read_caption_folder(path: str | Path, size: int, channels: int, max_pixels: int = MAX_PIXELS) -> CaptionImages:
    """Images under ``path`` with a same-name .txt beside each (one caption per line).

    Raises:
        DataError: no images, an image without its .txt, an empty .txt, an unreadable image or one of more
            than ``max_pixels`` pixels.
    """
    files, _, _ = scan_folder(path, labels=False)
    missing = [f for f in files if not f.with_suffix(".txt").is_file()]
    if missing:
        raise DataError(f"{len(missing)} of {len(files)} images in '{path}' have no caption file "
                        f"(e.g. '{missing[0].name}' needs '{missing[0].with_suffix('.txt').name}' beside it)")
    texts = []
    for f in files:
        lines = [ln.strip() for ln in f.with_suffix(".txt").read_text(encoding="utf-8", errors="replace").splitlines()]
        lines = [ln for ln in lines if ln]
        if not lines:
            raise DataError(f"caption file '{f.with_suffix('.txt')}' is empty; write one caption per line")
        texts.append(lines)
    pixels = np.empty((len(files), channels, size, size), dtype=np.uint8)
    for i, f in enumerate(files):
        try:
            pixels[i] = decode_image(f, size, channels, max_pixels)
        except ImageTooLarge as exc:
            raise DataError(str(exc)) from None
        except (OSError, ValueError, SyntaxError) as exc:
            raise DataError(f"image '{f}' cannot be read ({first_line(exc)})") from None
    k = max(len(t) for t in texts)
    tokens = torch.zeros(len(files), k, MAX_LEN, dtype=torch.uint8)
    for i, lines in enumerate(texts):
        tokens[i, : len(lines)] = tokenize(lines).to(torch.uint8)
    return CaptionImages("caption-folder", torch.from_numpy(pixels), tokens)


@DATASETS.register("caption-folder", kind="image", needs="path", captions=True,
                   description="your images with captions: data.path=DIR, x.png + x.txt (one caption per line)")
def caption_folder(cfg: Any) -> CaptionImages:
    size, channels = _size_and_channels(cfg, 64, 3)
    return read_caption_folder(str(_option(cfg, "path", "")), size, channels,
                               int(_option(cfg, "max_pixels", MAX_PIXELS)))
