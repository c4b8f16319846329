"""shapes-captions (grammar, rendering, held-out pairs) and the caption-folder loader."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.data import captions as C
from gankit.errors import ConfigError, DataError


def test_every_caption_of_the_grammar_parses_back_to_its_attributes():
    for combo in C.all_combinations():
        want = {a: names[i] for (a, names), i in zip(C.ATTRIBUTES, combo)}
        caps = C.captions_for(*want.values())
        assert len(caps) >= 30  # the wording varies
        for text in caps:
            assert C.parse_caption(text) == want, text


def test_parse_free_text_and_its_errors():
    assert C.parse_caption("A big blue square at the bottom") == {
        "kind": "square", "colour": "blue", "size": "big", "position": "bottom"}
    assert C.parse_caption("tiny yellow disc, upper right? no: top right")["position"] == "top right"
    with pytest.raises(DataError, match="names no colour"):
        C.parse_caption("a small circle at the top")
    with pytest.raises(DataError, match="two colours"):
        C.parse_caption("a small red blue circle at the top")
    with pytest.raises(DataError, match="two positions"):
        C.parse_caption("a small red circle at the top and the bottom")


def test_captions_are_deterministic_and_vary():
    a = [C.caption((0, 1, 0, 4), np.random.default_rng(3)) for _ in range(2)]
    assert a[0] == a[1]
    rng = np.random.default_rng(0)
    assert len({C.caption((0, 1, 0, 4), rng) for _ in range(40)}) > 10


def test_tokenize_round_trip_unknown_characters_and_empty_captions():
    t = C.tokenize(["a Small  red circle", "é!"])
    assert t.shape == (2, C.MAX_LEN) and t.dtype == torch.int64
    assert C.detokenize(t) == ["a small red circle", "?!"]
    assert int(t[1, 0]) == C.UNKNOWN and int(t[0, 18]) == C.PAD
    assert C.tokenize("x" * 200).shape == (1, C.MAX_LEN)
    with pytest.raises(DataError, match="empty"):
        C.tokenize(["a red circle", "   "])


def test_rendering_is_deterministic_and_draws_what_the_attributes_say():
    combos = np.array([[0, 0, 1, 0], [1, 2, 0, 8], [2, 3, 1, 4], [0, 0, 0, 0]])
    x = C.render(combos, 32, seed=5)
    assert np.array_equal(x, C.render(combos, 32, seed=5)) and not np.array_equal(x, C.render(combos, 32, seed=6))
    assert x.shape == (4, 3, 32, 32) and x.dtype == np.uint8
    for img, (_kind, c, _size, p) in zip(x, combos):
        on = img.max(axis=0) > 128
        ys, xs = np.nonzero(on)
        # the centroid lies in the position's cell of the 3 x 3 grid; the colour is the caption's
        assert (int(xs.mean() * 3 / 32), int(ys.mean() * 3 / 32)) == (p % 3, p // 3)
        rgb = img[:, on].mean(axis=1)
        assert np.abs(rgb - np.array(C.RGB[C.COLOURS[c]])).max() < 40
    assert (x[0].max(0) > 128).sum() > 2.5 * (x[3].max(0) > 128).sum()  # big vs small, same kind and colour


def test_held_out_pairs_are_never_in_the_training_split():
    train = build_dataset(DataConfig(name="shapes-captions"))
    test = build_dataset(DataConfig(name="shapes-captions", split="test"))
    assert train.shape == (3, 32, 32) and len(train) == C.SPLIT_SIZE["train"]
    assert not C.is_held_out(train.attributes.numpy()).any()
    assert C.is_held_out(test.attributes.numpy()).all()
    assert len(np.unique(train.attributes.numpy(), axis=0)) == len(C.seen_combinations()) == 162
    assert len(np.unique(test.attributes.numpy(), axis=0)) == len(C.held_out_combinations()) == 54
    # every stored caption describes its own image: the first five name all four attributes, the open ones
    # (size, position, both left out, in turn) the rest
    assert train.tokens.shape[1] == C.CAPTIONS_PER_IMAGE == 5
    train = build_dataset(DataConfig(name="shapes-captions", open_captions=3, image_size=8))
    assert train.tokens.shape[1] == C.CAPTIONS_PER_IMAGE + 3
    for i in range(0, len(train), 97):
        for j, text in enumerate(C.detokenize(train.tokens[i])):
            said = C.phrase_attributes(text, strict=True)
            assert [a in said for a, _ in C.ATTRIBUTES] == train.named[i, j].tolist(), text
            assert all(names.index(said[a]) == int(train.attributes[i, k])
                       for k, (a, names) in enumerate(C.ATTRIBUTES) if a in said), text


def test_conditional_batches_are_images_and_caption_tokens_under_the_global_rng():
    ds = build_dataset(DataConfig(name="shapes-captions"))
    torch.manual_seed(1)
    x, y = ds.sample_with_labels(16)
    torch.manual_seed(1)
    x2, y2 = ds.sample_with_labels(16)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    assert x.shape == (16, 3, 32, 32) and x.min() >= -1 and x.max() <= 1
    assert y.shape == (16, C.MAX_LEN) and y.dtype == torch.int64
    for text in C.detokenize(y):
        C.parse_caption(text)  # the default: full captions only
    assert ds.num_classes == 0  # the condition is text, not a class
    assert C.shapes_captions_dataset("train", 16, n=50).shape == (3, 16, 16)
    with pytest.raises(ConfigError, match="RGB"):
        build_dataset(DataConfig(name="shapes-captions", channels=1))


def _folder(tmp_path, captions: dict[str, str | None]):
    root = tmp_path / "pairs"
    root.mkdir()
    for i, (name, text) in enumerate(captions.items()):
        Image.fromarray(np.full((20, 20, 3), 40 * i, dtype=np.uint8)).save(root / f"{name}.png")
        if text is not None:
            (root / f"{name}.txt").write_text(text)
    return root


def test_caption_folder_loads_pairs_with_several_captions(tmp_path):
    root = _folder(tmp_path, {"a": "a red circle\n\na red disc\n", "b": "a blue square"})
    ds = build_dataset(DataConfig(name="caption-folder", path=str(root), image_size=16))
    assert ds.shape == (3, 16, 16) and len(ds) == 2
    assert ds.counts.tolist() == [2, 1]
    torch.manual_seed(0)
    x, y = ds.sample_with_labels(64)
    texts = C.detokenize(y)
    dark = x.mean(dim=(1, 2, 3)) < -0.9  # image a is black (0), image b is grey (40)
    assert {t for t, d in zip(texts, dark) if d} == {"a red circle", "a red disc"}
    assert {t for t, d in zip(texts, dark) if not d} == {"a blue square"}


def test_caption_folder_errors(tmp_path):
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="holds no"):
        build_dataset(DataConfig(name="caption-folder", path=str(tmp_path / "empty")))
    root = _folder(tmp_path, {"a": "a red circle", "b": None})
    with pytest.raises(DataError, match=r"1 of 2 images .* no caption file .*'b.png' needs 'b.txt'"):
        build_dataset(DataConfig(name="caption-folder", path=str(root)))
    (root / "b.txt").write_text("\n  \n")
    with pytest.raises(DataError, match="b.txt' is empty"):
        build_dataset(DataConfig(name="caption-folder", path=str(root)))
    with pytest.raises(DataError, match="needs a directory"):
        build_dataset(DataConfig(name="caption-folder"))


def test_check_readable_names_unknown_words_characters_and_cut_text():
    known = C.vocabulary(C.tokenize(["a big red circle at the top", "there is a small blue square on the left"]))
    assert known == {"a", "big", "red", "circle", "at", "the", "top", "there", "is", "small", "blue", "square", "on",
                     "left"}
    C.check_readable("A  BIG red circle, at the top", known)  # case, spaces and punctuation as the tokenizer sees them
    C.check_readable(["a small square", "the top"], known)
    with pytest.raises(DataError, match=r"never seen: purple, hexagon, one \(it knows a, at, big, blue, circle"):
        C.check_readable("a purple hexagon, a purple one", known)  # each unknown word once, in order
    with pytest.raises(DataError, match="never seen: triangle"):
        C.check_readable(["a red circle", "a red triangle"], known)  # any caption of a list
    with pytest.raises(DataError, match="characters it cannot read: é ☺"):
        C.check_readable("a red circle é ☺", known)
    long = " ".join(["a big red circle at the top"] * 3)  # 83 characters
    with pytest.raises(DataError, match="83 characters, of which it reads the first 64"):
        C.check_readable(long, known)
    C.check_readable(long[:55], known)  # whole words within the first 64 characters
    # the grammar's own words: every caption of every combination is readable by an encoder that saw them all
    grammar = [c for combo in C.all_combinations() for c in C.captions_for(*(names[i] for (_, names), i in
                                                                           zip(C.ATTRIBUTES, combo)))]
    C.check_readable(grammar, C.vocabulary(C.tokenize(grammar)))


def test_phrases_name_any_subset_and_strict_phrases_name_unknown_words():
    assert C.phrase_attributes("big red") == {"colour": "red", "size": "big"}
    assert C.phrase_attributes("a tiny disc in the bottom left corner", strict=True) == {
        "kind": "circle", "size": "small", "position": "bottom left"}
    assert C.phrase_attributes("a shiny red thing") == {"colour": "red"}  # free text: unknown words ignored
    with pytest.raises(DataError, match="unknown words 'shiny', 'thing'") as info:
        C.phrase_attributes("a shiny red thing", strict=True)
    assert "\n" not in str(info.value)


def test_open_captions_leave_out_size_and_position_and_keep_the_full_ones():
    rng = np.random.default_rng(4)
    made = {C.caption((2, 0, 1, 3), np.random.default_rng(t), omit) for t in range(40)
            for omit in (("size",), ("position",), ("size", "position"))}
    # each template with its empty slots closed up, never a doubled space or a stray comma
    assert {"a red triangle on the left", "a triangle in red, at the left", "a triangle in red, big",
            "on the left, a red triangle", "a red triangle, large", "a triangle in red", "there is a red triangle",
            "a red triangle"} <= made
    assert not [t for t in made if "  " in t or ", ," in t or t.startswith(",") or t.endswith(",")]
    # the same draws whatever is left out: dropping the size of a full caption gives the open one
    full = C.caption((2, 0, 1, 3), np.random.default_rng(9))
    assert C.caption((2, 0, 1, 3), np.random.default_rng(9), ("size",)) == " ".join(
        w for w in full.replace(", big", "").replace(", large", "").split() if w not in ("big", "large"))
    with pytest.raises(DataError, match="not colour"):
        C.caption((0, 0, 0, 0), rng, ("colour",))
    # open_captions=0 (the default) is the set of full captions only, caption for caption the first five of 3
    plain = C.shapes_captions_dataset("train", 8, n=324)
    default = C.shapes_captions_dataset("train", 8, n=324, open_captions=3)
    assert plain.tokens.shape[1] == 5 and torch.equal(default.tokens[:, :5], plain.tokens)
    assert plain.named.all() and not default.named[:, 5:, 2:].all()
    # one open caption text is the caption of images that differ in the attribute it leaves out
    sizes: dict[str, set[int]] = {}
    for i in range(len(default)):
        for text in C.detokenize(default.tokens[i, 5:]):
            sizes.setdefault(text, set()).add(int(default.attributes[i, 2]))
    assert any(v == {0, 1} for v in sizes.values())
    with pytest.raises(ConfigError, match="open_captions must be >= 0"):
        C.shapes_captions_dataset("train", 8, n=10, open_captions=-1)
