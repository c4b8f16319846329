"""The stages figure takes what every multi-stage generator's stages() returns: (name, images) pairs."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gankit.errors import DataError
from gankit.viz.stages import plot_stages


def test_stages_figure_of_grey_bands_and_rgb_stages(tmp_path):
    rng = np.random.default_rng(0)
    lapgan = [("coarse 4px", rng.uniform(-1, 1, (2, 1, 4, 4))), ("band 8px", 0.1 * rng.normal(size=(2, 1, 8, 8)))]
    stackgan = [("stage I 16px", rng.uniform(-1, 1, (2, 3, 16, 16))),
                ("stage II 32px", rng.uniform(-1, 1, (2, 3, 32, 32)))]
    for i, stages in enumerate((lapgan, stackgan)):
        path = tmp_path / f"{i}.png"
        plot_stages(stages, path, title="a long title that must wrap to the width of a narrow two-column figure")
        assert Image.open(path).size[0] > 100


def test_stages_figure_refuses_what_is_not_named_images(tmp_path):
    images = np.zeros((2, 3, 8, 8))
    with pytest.raises(DataError, match=r"list of \(name, images\) pairs, got dict"):
        plot_stages({"low": images, "high": images}, tmp_path / "s.png")  # StackGAN's old stages() (issue 13)
    with pytest.raises(DataError, match="at least one stage"):
        plot_stages([], tmp_path / "s.png")
    with pytest.raises(DataError, match="same N"):
        plot_stages([("a", images), ("b", images[:1])], tmp_path / "s.png")
    assert not (tmp_path / "s.png").exists()
