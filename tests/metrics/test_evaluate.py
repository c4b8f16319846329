"""gankit.metrics.evaluate / applicable: "auto", errors users can act on, merged keys."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gankit.data.toy import GaussianMixture, gauss1d, grid25, ring8, swissroll
from gankit.errors import ConfigError, DataError
from gankit.metrics import METRICS, applicable, evaluate

KEYS = {
    "modes": {"modes", "hq", "mode_kl"},
    "kl-js": {"kl_data_model", "kl_model_data", "js"},
    "wasserstein": {"w1"},
    "sliced-wasserstein": {"sw"},
    "set-distance": {"nearest_point", "chamfer"},
}


def _samples(ds, n: int, seed: int) -> np.ndarray:
    torch.manual_seed(seed)
    return ds.sample(n).double().numpy()


def test_applicable_per_data_set() -> None:
    for ds in (ring8(None), grid25(None), gauss1d(None)):
        assert applicable(ds) == ["kl-js", "modes", "set-distance", "sliced-wasserstein", "wasserstein"]
    assert applicable(swissroll(None)) == ["set-distance", "sliced-wasserstein", "wasserstein"]
    assert applicable(GaussianMixture("g3", np.zeros((2, 3)), 1.0)) == [  # 3-D: no KDE
        "modes", "set-distance", "sliced-wasserstein", "wasserstein"]
    assert set(KEYS) <= set(METRICS.names())


def test_auto_on_ring8_runs_every_applicable_metric_with_distinct_keys() -> None:
    ds = ring8(None)
    fake, real = _samples(ds, 400, 0), _samples(ds, 400, 1)
    out = evaluate(["auto"], fake, real, ds)
    assert set(out) == set().union(*KEYS.values())
    assert sum(len(k) for k in KEYS.values()) == len(out)  # no key shared between two metrics
    assert all(type(v) is float for v in out.values())
    assert out["modes"] == 8.0 and out["hq"] > 95.0 and out["w1"] < 0.2
    # a plain string works too, and repeats are run once
    assert evaluate("auto", fake, real, ds) == out
    assert evaluate(["modes", "auto", "modes"], fake, real, ds) == out


def test_selected_metrics_only() -> None:
    ds = ring8(None)
    fake, real = _samples(ds, 200, 0), _samples(ds, 200, 1)
    assert set(evaluate(["modes"], fake, real, ds)) == KEYS["modes"]
    assert set(evaluate(["wasserstein", "modes"], fake, real, ds)) == KEYS["modes"] | KEYS["wasserstein"]


def test_metric_that_does_not_apply_is_a_config_error() -> None:
    ds = swissroll(None)
    x = _samples(ds, 50, 0)
    with pytest.raises(ConfigError) as err:
        evaluate(["modes"], x, x, ds)
    msg = str(err.value)
    assert "'modes'" in msg and "'swissroll'" in msg and "wasserstein" in msg
    assert "\n" not in msg
    with pytest.raises(ConfigError, match="kl-js"):
        evaluate(["kl-js"], x, x, ds)
    assert set(evaluate(["auto"], x, x, ds)) == {"w1", "sw", "nearest_point", "chamfer"}


def test_unknown_metric_lists_the_known_ones() -> None:
    ds = ring8(None)
    x = _samples(ds, 20, 0)
    with pytest.raises(ConfigError) as err:
        evaluate(["fid"], x, x, ds)
    msg = str(err.value)
    assert "'fid'" in msg
    for name in KEYS:
        assert name in msg


def test_bad_samples_are_data_errors() -> None:
    ds = ring8(None)
    x = _samples(ds, 20, 0)
    with pytest.raises(DataError, match="dimension"):
        evaluate(["modes"], np.zeros((20, 3)), x, ds)
    nan = x.copy()
    nan[3, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        evaluate(["modes"], nan, x, ds)
    with pytest.raises(DataError, match="N >= 1"):
        evaluate(["modes"], np.zeros((0, 2)), x, ds)


def test_evaluate_accepts_tensors_and_moves_no_rng() -> None:
    ds = ring8(None)
    torch.manual_seed(0)
    fake = ds.sample(100).requires_grad_()
    real = ds.sample(100)
    state = torch.get_rng_state()
    out = evaluate(["modes", "wasserstein"], fake, real, ds)
    assert torch.equal(torch.get_rng_state(), state)
    assert out == evaluate(["modes", "wasserstein"], fake.detach().double().numpy(), real.numpy(), ds)
