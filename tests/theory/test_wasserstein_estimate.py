"""The wasserstein-estimate check's machinery on a tiny budget (the claim itself is recorded by the CLI run)."""

from __future__ import annotations

import torch

from gankit.theory.wasserstein_estimate import _train


def test_probes_record_both_estimators_and_leave_the_rng_alone(tmp_path):
    state = torch.get_rng_state()
    rows = _train(tmp_path, steps=30, every=30, refine=150, fresh_steps=150, warmup=False)
    assert torch.equal(state, torch.get_rng_state())
    assert [r["step"] for r in rows] == [1, 30]
    first = rows[0]
    # at the start the samples sit far from the ring: a refined critic estimates W1 within 25 %,
    # while the fresh discriminator separates perfectly and reports JS = log 2
    assert abs(first["critic estimate"] - first["W1 (POT)"]) < 0.25 * first["W1 (POT)"]
    assert first["D accuracy"] > 0.99 and abs(first["JS estimate"] - 0.6931) < 0.01
    again = _train(tmp_path / "again", steps=30, every=30, refine=150, fresh_steps=150, warmup=False)
    assert rows == again
