"""Tiny stackgan-shapes configs shared by the StackGAN test files."""

from __future__ import annotations

from gankit import config as C

SMALL = ["generator.width=8", "discriminator.width=8", "generator.depth=1", "data.batch_size=8",
         "train.steps=3", "train.log_every=1", "train.sample_every=0", "train.checkpoint_every=3",
         "train.progress=false", "train.diagnostics_every=0", "eval.metrics=[]",
         "model.caption_prior=false"]  # the preset's prior costs seconds to fit: tests that want it turn it on


def small_config(tmp_path, *overrides):
    """The stackgan-shapes preset at toy size (widths 8, batch 8, 3 steps) writing under ``tmp_path``."""
    return C.resolve("stackgan-shapes", overrides=[*SMALL, f"run.out_dir={tmp_path / 'runs'}", *overrides])
