"""The shipped MNIST evaluator: weights and checksum, the extractor, Stacked-MNIST modes (no MNIST needed,
except for the optional accuracy check, skipped when MNIST is not cached)."""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest
import torch

from gankit.errors import CheckpointError, DataError
from gankit.metrics import applicable, evaluate
from gankit.metrics import features as F
from gankit.metrics import mnist_classifier as MC


def _images(n: int, seed: int, channels: int = 1) -> torch.Tensor:
    """Blurry blobs in [-1, 1] (not digits; the classifier's answer on them only has to be consistent)."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn((n, channels, 7, 7), generator=g)
    x = torch.nn.functional.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False)
    return torch.tanh(2 * x - 1)


class _Stacked:
    name = "stacked-mnist"
    kind = "image"
    shape = (3, 28, 28)
    dim = 3 * 28 * 28


class _Mnist:
    name = "mnist"
    kind = "image"
    shape = (1, 28, 28)
    dim = 28 * 28


def test_shipped_weights_load_and_match_their_sha256() -> None:
    path = MC.weights_path()
    assert path.is_file() and path.with_name(MC.SHA_FILE).is_file()
    want = MC.expected_sha256()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == want and len(want) == 64
    net = MC.load_classifier()
    assert isinstance(net, MC.MnistNet) and not net.training


def test_metadata_records_how_the_weights_were_made() -> None:
    from safetensors import safe_open

    with safe_open(str(MC.weights_path()), framework="pt") as f:
        meta = f.metadata()
    assert float(meta["test_accuracy"]) >= 0.99
    assert {"epochs", "seed", "torch_version"} <= set(meta)


def test_wrong_sha_missing_file_and_missing_checksum_are_checkpoint_errors(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="train_mnist_classifier.py"):
        MC.load_classifier(sha256="0" * 64)
    with pytest.raises(CheckpointError, match="missing.*train_mnist_classifier.py"):
        MC.load_classifier(tmp_path / "none.safetensors")
    copy = tmp_path / MC.WEIGHTS_FILE
    shutil.copyfile(MC.weights_path(), copy)
    with pytest.raises(CheckpointError, match="checksum file.*train_mnist_classifier.py"):
        MC.load_classifier(copy)  # no .sha256 beside it
    assert isinstance(MC.load_classifier(copy, sha256=MC.expected_sha256()), MC.MnistNet)
    data = bytearray(copy.read_bytes())
    data[-1] ^= 1
    copy.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="sha256"):
        MC.load_classifier(copy, sha256=MC.expected_sha256())


def test_extractor_shapes_probabilities_and_determinism() -> None:
    ext = F.get_extractor("mnist-classifier")
    x = _images(37, 0)
    f, p = ext(x)
    assert f.shape == (37, MC.FEATURE_DIM) and p.shape == (37, 10)
    assert np.allclose(p.sum(axis=1), 1.0) and (p >= 0).all() and (f >= 0).all()  # post-ReLU features
    f2, p2 = ext(x.clone())
    assert np.array_equal(f, f2) and np.array_equal(p, p2)
    f3, p3 = ext(x[:5])  # batch composition does not change a row (eval mode: no dropout, fixed BN)
    assert np.allclose(f3, f[:5], atol=1e-5) and np.allclose(p3, p[:5], atol=1e-6)
    with pytest.raises(DataError, match=r"\(N, 1, 28, 28\)"):
        ext(_images(2, 0)[:, :, :20, :20])


def test_default_for_mnist_only() -> None:
    assert F.extractor_for("mnist") is F.get_extractor("mnist-classifier")
    assert F.extractor_for(_Mnist()).name == "mnist-classifier"
    for other in ("fashion-mnist", "stacked-mnist", "cifar10", "digits"):
        ext = F.extractor_for(other)
        assert ext is None or ext.name != "mnist-classifier"
    assert {"fid", "inception-score", "kid", "precision-recall"} <= set(applicable(_Mnist()))
    assert "stacked-mnist-modes" not in applicable(_Mnist())


def test_registration_does_not_load_weights_at_import() -> None:
    import subprocess
    import sys

    code = ("import gankit.metrics.mnist_classifier as MC, gankit.metrics.features as F; "
            "assert F.extractor_for('mnist').name == 'mnist-classifier'; "
            "assert MC._CLASSIFIER._net is None; print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_stacked_mnist_modes_composition() -> None:
    x = _images(12, 1)
    _, p = F.get_extractor("mnist-classifier")(x)
    d = p.argmax(axis=1)
    same = x.repeat(1, 3, 1, 1)  # the same digit thrice: label 111 d
    assert np.array_equal(MC.stacked_mnist_modes(same), 111 * d)
    a, b, c = x[:4], x[4:8], x[8:]
    mixed = torch.cat([a, b, c], dim=1)
    labels = MC.stacked_mnist_modes(mixed)
    assert np.array_equal(labels, 100 * d[:4] + 10 * d[4:8] + d[8:])
    assert ((labels >= 0) & (labels <= 999)).all() and labels.dtype == np.int64
    flat = MC.stacked_mnist_modes(mixed.reshape(4, -1).numpy())  # flat rows work too
    assert np.array_equal(flat, labels)
    with pytest.raises(DataError):
        MC.stacked_mnist_modes(x)  # one channel


def test_stacked_mnist_modes_metric_applies_only_to_stacked_mnist() -> None:
    ds = _Stacked()
    names = applicable(ds)
    assert "stacked-mnist-modes" in names and "modes" not in names  # toy modes needs kind == "points"
    fake = torch.cat([_images(30, 2), _images(30, 3), _images(30, 4)], dim=1).reshape(30, -1).double().numpy()
    out = evaluate(["stacked-mnist-modes"], fake, fake, ds)
    labels = MC.stacked_mnist_modes(fake)
    assert out["modes"] == len(np.unique(labels)) and out["modes_n"] == 30
    assert 0 <= out["mode_kl"] <= np.log(1000) and out["mode_kl_low"] <= out["mode_kl"] + 1e-9
    assert set(out) == {"modes", "mode_kl", "mode_kl_low", "mode_kl_high", "modes_n"}
    collapsed = np.repeat(fake[:1], 30, axis=0)
    assert evaluate(["stacked-mnist-modes"], collapsed, fake, ds)["modes"] == 1
    assert evaluate(["stacked-mnist-modes"], collapsed, fake, ds)["mode_kl"] == pytest.approx(np.log(1000))


FIXTURE = __import__("pathlib").Path(__file__).resolve().parents[1] / "fixtures" / "mnist-test-1000.npz"


def _real_digits() -> tuple[torch.Tensor, np.ndarray]:
    """The first 1,000 MNIST test digits (shipped with the tests), in [-1, 1], and their labels."""
    with np.load(FIXTURE) as f:
        x, y = f["x"], f["y"]
    return torch.from_numpy(x).to(torch.float32).mul_(2 / 255).sub_(1), y.astype(np.int64)


def test_accuracy_on_real_mnist_digits() -> None:
    x, y = _real_digits()
    out = MC.class_accuracy(x, y)
    assert out["class_accuracy"] >= 0.985 and out["class_accuracy_n"] == 1000
    assert out["class_accuracy_low"] <= out["class_accuracy"] <= out["class_accuracy_high"] <= 1.0
    wrong = MC.class_accuracy(x, (y + 1) % 10)  # every label off by one: near zero
    assert wrong["class_accuracy"] < 0.02
    with pytest.raises(DataError, match="1000 images but 999 labels"):
        MC.class_accuracy(x, y[:-1])
    with pytest.raises(DataError, match="0..9"):
        MC.class_accuracy(x[:2], np.array([3, 10]))


def test_classifier_inception_score_of_real_digits_is_near_ten() -> None:
    from gankit.metrics.images import inception_score

    x, y = _real_digits()
    _, p = F.get_extractor("mnist-classifier")(x)
    is_mean, _ = inception_score(p, 1)
    assert 9.0 < is_mean <= 10.0  # 10 balanced, confidently read classes; the reference is 9.88 (docs/protocols.md)
    ones = x[torch.from_numpy(y == 1)]
    assert inception_score(F.get_extractor("mnist-classifier")(ones)[1], 1)[0] < 1.2  # one class: IS near 1


def test_stacked_modes_of_real_digit_triples() -> None:
    x, y = _real_digits()
    triples = torch.cat([x[:300], x[300:600], x[600:900]], dim=1)
    want = 100 * y[:300] + 10 * y[300:600] + y[600:900]
    got = MC.stacked_mnist_modes(triples)
    assert np.mean(got == want) >= 0.95  # three reads, each right >= 98.5 %
