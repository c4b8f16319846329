"""The extractors of every image data set (digits classifier, shapes attributes, random embedding), choosing
one by name or file (eval.extractor, --extractor), and third-party extractors/metrics through entry points."""

from __future__ import annotations

import logging
import sys

import pytest
import torch

from gankit import config as C
from gankit.data import build_dataset
from gankit.errors import CheckpointError, ConfigError
from gankit.metrics import METRICS, applicable, evaluate, plugins
from gankit.metrics import digits_classifier as dc
from gankit.metrics import features as F
from gankit.metrics import random_embedding as re_
from gankit.metrics import shapes_features as sf


def _dataset(name: str, *overrides: str):
    return build_dataset(C.resolve(None, overrides=[f"data.name={name}", *overrides]).data)


def test_every_builtin_image_set_has_an_extractor() -> None:
    defaults = {"digits": "digits-classifier", "mnist": "mnist-classifier", "shapes-captions": "shapes-attributes",
                "folder": "random-conv", "cifar10": "random-conv", "fashion-mnist": "random-conv",
                "stacked-mnist": "random-conv", "caption-folder": "random-conv", "outside": "random-conv"}
    for ds, ext in defaults.items():
        assert F.extractor_for(ds).name == ext, ds
    assert F.get_extractor("random-conv").key_prefix == "rand_"
    assert F.get_extractor("digits-classifier").key_prefix == ""


def test_random_embedding_is_fixed_by_its_seed_and_reads_any_size() -> None:
    a, b = re_.RandomConvEmbedding(), re_.RandomConvEmbedding()
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))  # numpy-seeded: same everywhere
    assert not torch.equal(re_.RandomConvEmbedding(seed=1).stem.weight, a.stem.weight)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    assert a(x).shape == (4, re_.FEATURE_DIM)
    assert torch.equal(a(x), a(x.repeat(1, 3, 1, 1)))  # grey is read as RGB with equal channels
    for side in (32, 64):
        assert a(torch.zeros(2, 3, side, side)).shape == (2, 256)


def test_random_embedding_keys_say_so_and_move_with_the_distribution() -> None:
    ds = _dataset("digits")
    ds.feature_extractor = "random-conv"
    x = ds.images(torch.arange(600))
    same = evaluate(["fid"], x[:300], x[300:], ds)
    shifted = evaluate(["fid"], (x[:300] * 0.5 + 0.2), x[300:], ds)
    assert set(same) == {"rand_fid", "rand_fid_low", "rand_fid_high", "rand_fid_n"}
    assert shifted["rand_fid"] > 10 * same["rand_fid"]


def test_digits_classifier_reads_digits_and_its_weights_are_checked(tmp_path) -> None:
    ds = _dataset("digits")
    x, y = ds.images(None), ds.labels
    net = dc.load_digits_classifier()
    with torch.no_grad():
        acc = float((net(x)[1].argmax(1) == y).float().mean())
    assert acc > 0.97  # 98.9 % on the 449 held-out digits, more on all
    assert applicable(ds) == ["fid", "inception-score", "kid", "precision-recall"]
    bad = tmp_path / "w.safetensors"
    bad.write_bytes(b"not weights")
    with pytest.raises(CheckpointError):
        dc.load_digits_classifier(bad)


def test_shapes_extractor_joint_probabilities() -> None:
    logits = [torch.randn(5, k) for k in (3, 4, 2, 9)]
    p = sf.joint_probabilities(logits)
    assert p.shape == (5, 216) and torch.allclose(p.sum(1), torch.ones(5, dtype=torch.float64))
    marg = [torch.softmax(h.double(), 1) for h in logits]
    assert torch.isclose(p[0, 0], marg[0][0, 0] * marg[1][0, 0] * marg[2][0, 0] * marg[3][0, 0])
    assert torch.isclose(p[1, -1], marg[0][1, -1] * marg[1][1, -1] * marg[2][1, -1] * marg[3][1, -1])
    ds = _dataset("shapes-captions")
    assert "inception-score" in applicable(ds) and F.extractor_for(ds).name == "shapes-attributes"


def test_extractor_specs_and_eval_extractor(tmp_path) -> None:
    with pytest.raises(ConfigError, match="unknown feature extractor 'nope'; give NAME .*random-conv"):
        F.resolve_extractor("nope")
    with pytest.raises(ConfigError, match="not found; gankit never downloads"):
        F.resolve_extractor(f"inception:{tmp_path / 'missing.pt'}")
    with pytest.raises(ConfigError, match="unknown feature extractor kind 'onnx'"):
        F.resolve_extractor("onnx:x.onnx")
    path = tmp_path / "mean.pt"
    torch.jit.script(torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(64, 3))).save(str(path))
    with pytest.raises(ConfigError, match="expected " + "0" * 64):
        F.resolve_extractor(f"torchscript:{path}:{'0' * 64}")
    ext = F.resolve_extractor(f"torchscript:{path}")
    try:
        ds = _dataset("digits")
        assert F.use_extractor(ds, f"torchscript:{path}").name == ext.name == "torchscript:mean.pt"
        out = evaluate(["kid"], ds.images(torch.arange(50)), ds.images(torch.arange(50, 100)), ds)
        assert set(out) >= {"kid", "kid_n"}  # features only: no prefix, no Inception score
        assert "inception-score" not in applicable(ds)
    finally:
        F.unregister_extractor(ext.name)
    from gankit import api

    cfg = C.resolve("dcgan-digits", overrides=["eval.extractor=nope", f"run.out_dir={tmp_path}"])
    with pytest.raises(ConfigError, match="unknown feature extractor 'nope'"):
        api.build_trainer(cfg, api.run_dir_for(cfg), callbacks=[])  # refused before any training


def test_plugins_from_entry_points(tmp_path, monkeypatch, caplog) -> None:
    (tmp_path / "fakeplug.py").write_text(
        "import numpy as np\n"
        "from gankit.metrics import Key\n"
        "def feats(images):\n"
        "    return images.flatten(1)[:, :4], None\n"
        "feats.gives_probs = False\n"
        "feats.datasets = ['fake-plug-set']\n"
        "def spread(fake, real, dataset):\n"
        "    return {'spread': float(np.std(fake))}\n"
        "spread.applies = lambda ds: True\n"
        "spread.keys = {'spread': Key('floor', 'standard deviation of the samples')}\n"
        "def broken():\n"
        "    pass\n")
    dist = tmp_path / "fakeplug-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: fakeplug\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text(
        "[gankit.extractors]\nplug-feats = fakeplug:feats\n\n"
        "[gankit.metrics]\nplug-spread = fakeplug:spread\nplug-missing = fakeplug:nowhere\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with caplog.at_level(logging.WARNING, logger="gankit"):
            loaded = plugins.load_plugins()
        assert loaded == ["gankit.extractors:plug-feats", "gankit.metrics:plug-spread"]
        assert "plug-missing" in caplog.text and "not loaded" in caplog.text  # one warning, gankit goes on
        assert F.extractor_for("fake-plug-set").name == "plug-feats"
        assert "plug-spread" in METRICS and METRICS.meta("plug-spread")["keys"]["spread"].better == "floor"
        assert plugins.load_plugins() == []  # once only
    finally:
        F.unregister_extractor("plug-feats")
        METRICS._entries.pop("plug-spread", None)  # no unregister in the registry: undo by hand for later tests
        METRICS._meta.pop("plug-spread", None)
        sys.modules.pop("fakeplug", None)
