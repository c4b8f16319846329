"""Every number a metric reports has a registered direction, unit and meaning (metrics/keys.py)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.data.toy import ring8
from gankit.metrics import METRICS, Key, evaluate, key_info
from gankit.metrics import features as F
from gankit.metrics import images as I
from gankit.metrics.keys import MODES, base_key, brief, reported_keys

SUFFIXES = ("_low", "_high", "_std", "_n")


def primary(values: dict[str, float]) -> set[str]:
    return {k for k in values if not (k.endswith(SUFFIXES) and (k.rsplit("_", 1)[0] in values or k == "pr_n"))}


class _Images:
    kind, name, shape, dim = "image", "test-keys-images", (1, 4, 4), 16


def test_every_reported_key_of_every_metric_is_declared(monkeypatch):
    ds = ring8(None)
    torch.manual_seed(0)
    toy = evaluate(["auto"], ds.sample(200), ds.sample(200), ds)
    monkeypatch.setattr(I, "KID_SUBSETS", 5)
    monkeypatch.setattr(I, "KID_SUBSET_SIZE", 50)
    F.register_extractor("test-keys", lambda x: (x.flatten(1), torch.softmax(x.flatten(1)[:, :4] * 3, 1)),
                         datasets=[_Images.name])
    try:
        g = torch.Generator().manual_seed(0)
        img = evaluate(["auto"], torch.rand(120, 16, generator=g) * 2 - 1, torch.rand(120, 16, generator=g) * 2 - 1,
                       _Images())
    finally:
        F.unregister_extractor("test-keys")
    reported = primary(toy) | primary(img)
    assert {"modes", "hq", "w1", "fid", "is", "kid", "precision", "recall", "density", "coverage"} <= reported
    for key in reported:
        info = key_info(key)
        assert isinstance(info, Key) and info.meaning and info.better in ("higher", "lower", "floor"), key
    declared = {k: m for m in METRICS.names() for k in METRICS.meta(m).get("keys", {})}
    assert reported <= set(declared)
    # the metrics not run above declare what their docstrings say they report
    assert set(METRICS.meta("stacked-mnist-modes")["keys"]) == {"modes", "mode_kl"}
    assert set(METRICS.meta("conditional-accuracy")["keys"]) == {"class_accuracy"}


def test_a_key_two_metrics_report_means_one_thing():
    seen: dict[str, Key] = {}
    for name in METRICS.names():
        for key, info in METRICS.meta(name).get("keys", {}).items():
            assert seen.setdefault(key, info) is info, f"'{key}' is declared twice with different meanings"
    assert key_info("modes") is MODES and METRICS.meta("stacked-mnist-modes")["keys"]["modes"] is MODES


def test_directions_units_and_prefixes():
    assert key_info("fid").direction == "↓ lower" and key_info("precision").direction == "↑ higher"
    assert key_info("density").direction == "≈ floor"
    assert key_info("kid").scale == 1e3 and key_info("kid").shown_unit == "×1e-3"
    assert key_info("hq").shown_unit == "%" and key_info("recall").shown_unit == "fraction"
    assert key_info("drs_fid") is key_info("fid") and base_key("drs_hq") == "hq"
    assert key_info("acceptance") is None and key_info("fid_low") is None
    # the reading a student needs: precision is plausibility, recall is variety
    assert "plausible" in key_info("precision").meaning and "variety" in key_info("recall").meaning
    with pytest.raises(ValueError, match="Key.better must be one of"):
        Key("up", "?")
    assert np.isclose(Key("lower", "x", scale=1e6).scale, 1e6) and Key("lower", "x", scale=1e6).shown_unit == "×1e-6"


def test_brief_line_of_a_periodic_evaluation():
    values = {"fid": 12.34, "fid_low": 11.8, "fid_high": 12.9, "fid_n": 500.0, "kid": 0.0081, "kid_std": 0.0012,
              "pr_n": 500.0, "acceptance": 0.25, "ema": False, "floor": {"fid": 1.0}}
    assert reported_keys(values) == ["fid", "kid", "acceptance"]
    assert brief(values) == "fid 12.34 [11.8, 12.9] ↓, kid 8.1 ± 1.2 ×1e-3 ↓, acceptance 0.25"
