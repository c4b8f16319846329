"""Latent arithmetic: the expression, the prediction, the exact sums, group selection by the classifier,
the figure, one-line errors and determinism."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit import arithmetic as A
from gankit.cli import main
from gankit.data import captions as C
from gankit.errors import ConfigError


def shapes_words() -> A.Reader:
    """The shapes reader's grammar without its classifier (parsing needs no weights)."""
    return A.Reader("shapes attributes", C.ATTRIBUTES, A.shapes_group, lambda x: [])


class Linear(nn.Module):
    """G(z) = W z as a (1, 2, 2) image: linear, so G(Σ s_i m_i) = Σ s_i G(m_i) exactly."""

    def __init__(self) -> None:
        super().__init__()
        self.w = nn.Parameter(torch.randn(4, 6, generator=torch.Generator().manual_seed(0)), requires_grad=False)

    def sample_noise(self, n, device=None, generator=None):
        return torch.randn(n, 6, generator=generator)

    def forward(self, z):
        return (z @ self.w.T).reshape(-1, 1, 2, 2)


def sign_reader(sharpness: float = 3.0) -> A.Reader:
    """Two heads reading the signs of pixels 0 and 1: p(pos) = sigmoid(sharpness * x)."""

    def parse(name: str) -> dict[int, int]:
        out = {}
        for word in name.split():
            head, value = {"up": (0, 1), "down": (0, 0), "left": (1, 0), "right": (1, 1)}[word]
            out[head] = value
        return out

    def classify(x):
        flat = x.reshape(len(x), -1).double()
        return [torch.stack([1 - torch.sigmoid(sharpness * flat[:, h]), torch.sigmoid(sharpness * flat[:, h])], 1)
                for h in (0, 1)]

    return A.Reader("signs", (("v", ("down", "up")), ("h", ("left", "right"))), parse, classify)


def test_expression_parses_signs_and_grammar_words():
    terms = A.parse_expression("big red circle - big red + a big blue", shapes_words())
    assert [t.sign for t in terms] == [1, -1, 1]
    assert [t.name for t in terms] == ["big red circle", "big red", "a big blue"]
    kind, colour, size, _ = (dict(C.ATTRIBUTES)[a] for a in ("kind", "colour", "size", "position"))
    assert terms[0].query == {0: kind.index("circle"), 1: colour.index("red"), 2: size.index("big")}
    assert terms[2].query == {1: colour.index("blue"), 2: size.index("big")}
    lead = A.parse_expression("\u2212 large disc at the top left", shapes_words())  # minus sign, synonyms, position
    assert lead[0].sign == -1 and lead[0].query == {0: 0, 2: 1, 3: C.POSITIONS.index("top left")}


@pytest.mark.parametrize("text, message", [
    ("big purple circle - big red", "unknown word 'purple'"),
    ("big red circle + - big red", "empty term"),
    ("big red circle -", "empty term"),
    ("", "expression is empty"),
    ("big small circle", "two sizes"),
    ("the", "names no attribute"),
])
def test_expression_errors_are_one_line(text, message):
    with pytest.raises(ConfigError, match=message) as info:
        A.parse_expression(text, shapes_words())
    assert "\n" not in str(info.value)


def test_digit_groups():
    reader = A.Reader("MNIST digits", (("digit", tuple("0123456789")),), A.digit_group, lambda x: [])
    terms = A.parse_expression("7 - 1 + 3", reader)
    assert [(t.sign, t.query) for t in terms] == [(1, {0: 7}), (-1, {0: 1}), (1, {0: 3})]
    with pytest.raises(ConfigError, match="'12' is not a digit"):
        A.parse_expression("7 - 12", reader)


def test_prediction_replaces_one_attribute_and_abstains_otherwise():
    r = shapes_words()
    assert r.describe(A.predict(A.parse_expression("big red circle - big red + big blue", r), r)) == "big blue circle"
    assert r.describe(A.predict(A.parse_expression("small green square - square + triangle", r), r)) == \
        "small green triangle"
    assert A.predict(A.parse_expression("big red circle - big red circle", r), r) == {}  # everything cancels
    assert A.predict(A.parse_expression("big - small", r), r) == {}  # big +1 but small -1: not settled
    digits = A.Reader("d", (("digit", tuple("0123456789")),), A.digit_group, lambda x: [])
    assert A.predict(A.parse_expression("7 - 1 + 3", digits), digits) == {}


def test_combine_is_the_signed_sum_of_means():
    g = torch.Generator().manual_seed(3)
    a, b, c = (torch.randn(5, 7, generator=g) for _ in range(3))
    z = A.combine([a.mean(0), b.mean(0), c.mean(0)], [1, -1, 1])
    assert torch.allclose(z, a.mean(0) - b.mean(0) + c.mean(0), atol=1e-6)
    assert not torch.allclose(z, a.mean(0) + b.mean(0) + c.mean(0), atol=1e-3)
    with pytest.raises(ConfigError, match="2 group means but 1 signs"):
        A.combine([a[0], b[0]], [1])


def test_arithmetic_through_a_linear_generator_picks_groups_by_the_classifier():
    net, reader = Linear(), sign_reader()
    res = A.latent_arithmetic(net, "up right - up + down", reader, pool=400, per_group=3, neighbours=4, seed=1)
    # the groups: every chosen latent's image is read as its group with probability >= 0.9, and the pool
    # counts agree with an independent count
    for term, images, size in zip(res.terms, res.group_images, res.group_sizes):
        probs = reader.classify(torch.from_numpy(images))
        p = np.prod([probs[h][:, v].numpy() for h, v in term.query.items()], axis=0)
        assert len(images) == 3 and (p >= 0.9).all()
        gen = torch.Generator().manual_seed(1)
        pool = net.sample_noise(400, generator=gen)
        all_p = reader.classify(net(pool))
        want = np.prod([all_p[h][:, v].numpy() for h, v in term.query.items()], axis=0)
        assert size == int((want >= 0.9).sum()) and 0 < size < 400
    # G is linear: G(mean A - mean B + mean C) is the same sum of the groups' mean images
    mean_images = torch.from_numpy(res.mean_images)
    assert torch.allclose(torch.from_numpy(res.images[0]), mean_images[0] - mean_images[1] + mean_images[2], atol=1e-5)
    assert np.allclose(res.images[0], net(res.z[None]).numpy()[0], atol=1e-6)
    # the neighbourhood: z + U(-0.25, 0.25) per coordinate
    assert res.images.shape == (5, 1, 2, 2) and res.readings.shape == (5, 2)
    assert res.predicted == {0: 0, 1: 1} and res.prediction() == "down right"
    assert res.agrees().shape == (5,)


def test_seed_fixes_everything_and_changes_it():
    net, reader = Linear(), sign_reader()
    a = A.latent_arithmetic(net, "up - down", reader, pool=200, seed=5)
    b = A.latent_arithmetic(net, "up - down", reader, pool=200, seed=5)
    c = A.latent_arithmetic(net, "up - down", reader, pool=200, seed=6)
    assert torch.equal(a.z, b.z) and np.array_equal(a.images, b.images)
    assert not torch.equal(a.z, c.z)


def test_empty_group_and_conditional_generator_are_one_line_errors():
    net = Linear()
    with pytest.raises(ConfigError, match=r"no sample of the 50 drawn was read as 'up right'.*--pool 200"):
        A.latent_arithmetic(net, "up right", sign_reader(), pool=50, threshold=1.0)
    net.labels_of = lambda z: None  # a conditional generator carries its class in the latent
    with pytest.raises(ConfigError, match="unconditional generator"):
        A.latent_arithmetic(net, "up", sign_reader())


def test_reader_for_knows_the_shipped_classifiers_only():
    assert A.reader_for("shapes-captions", (3, 32, 32)).name == "shapes attributes"
    assert A.reader_for("mnist", (1, 28, 28)).name == "MNIST digits"
    for name, shape in (("ring8", (2,)), ("fashion-mnist", (1, 28, 28)), ("digits", (1, 8, 8))):
        with pytest.raises(ConfigError, match=f"data '{name}'.*has none"):
            A.reader_for(name, shape)


class Bank(nn.Module):
    """G(z) = the rendered shape whose index is argmax z[:K]: real images, so the real classifier reads them."""

    def __init__(self, combos: np.ndarray) -> None:
        super().__init__()
        self.register_buffer("images", torch.from_numpy(C.render(combos, 32, 0, jitter=False)).float() / 127.5 - 1)

    def sample_noise(self, n, device=None, generator=None):
        return torch.randn(n, len(self.images), generator=generator)

    def forward(self, z):
        return self.images[z.argmax(1)]


def test_the_shipped_attribute_classifier_picks_the_shapes_groups():
    combos = np.array([(k, c, s, 4) for k in range(3) for c in range(4) for s in range(2)])  # centre: 24 images
    net = Bank(combos)
    reader = A.reader_for("shapes-captions", (3, 32, 32))
    res = A.latent_arithmetic(net, "big red circle - big red + small blue", reader, pool=600, neighbours=0, seed=0)
    want = [(0, 0, 1), (None, 0, 1), (None, 2, 0)]  # (kind, colour, size) of each group, None: any
    for images, (k, c, s) in zip(res.group_images, want):
        shown = combos[[int(np.argmax([np.array_equal(img, ref) for ref in net.images.numpy()])) for img in images]]
        assert len(images) == 3 and (shown[:, 1] == c).all() and (shown[:, 2] == s).all()
        assert k is None or (shown[:, 0] == k).all()
    assert res.group_sizes[0] == pytest.approx(600 / 24, abs=15) and res.group_sizes[1] > res.group_sizes[0]
    assert res.prediction() == "small blue circle"


def test_cli_on_a_digits_run_writes_the_figure_and_refuses_bad_input(tmp_path, capsys, tiny, mnist_cache):
    from gankit import api

    run = api.train(tiny("train.steps=2", "eval.metrics=[]", preset="dcgan-mnist")).root
    capsys.readouterr()
    out = tmp_path / "a.png"
    code = main(["sample", str(run), "--arithmetic", "7 - 1 + 3", "--pool", "30", "--threshold", "0", "-o", str(out)])
    printed = capsys.readouterr().out
    assert code == 0 and "the result reads as '" in printed and "predicts" not in printed
    assert Image.open(out).size[0] > 400
    code = main(["sample", str(run), "--arithmetic", "7 - 1", "--pool", "30", "-o", str(tmp_path / "a.npy")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no sample of the 30 drawn was read as" in err
    code = main(["sample", str(run), "--arithmetic", "7 - 1", "--nearest", "-o", str(tmp_path / "b.png")])
    assert code == 2 and "cannot be combined with --nearest" in capsys.readouterr().err
    code = main(["sample", str(run), "--arithmetic", "7 - one", "-o", str(tmp_path / "b.png")])
    assert code == 2 and "'one' is not a digit" in capsys.readouterr().err
    assert not (tmp_path / "b.png").exists()
