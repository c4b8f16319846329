"""Image sample grids: layout, value mapping, enlargement of tiny images, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gankit.errors import DataError
from gankit.viz.images import image_grid, save_image_grid


def test_grid_layout_and_value_mapping():
    x = np.full((10, 1, 4, 4), -1.0, dtype=np.float32)
    x[3] = 1.0  # one white tile
    im = image_grid(x, nrow=5, pad=2, min_side=0)
    assert im.mode == "L" and im.size == (5 * 6 + 2, 2 * 6 + 2)
    a = np.asarray(im)
    assert a[0, 0] == 255  # padding is white
    assert a[2, 2] == 0  # tile 0 is black (-1)
    assert a[2, 2 + 3 * 6] == 255  # tile 3 (row 0, column 3) is white (+1)


def test_rgb_and_clipping_and_enlargement(tmp_path):
    x = np.zeros((4, 3, 8, 8), dtype=np.float32)
    x[:, 0] = 5.0  # clipped to +1: pure red channel
    save_image_grid(x, tmp_path / "g.png", nrow=2)
    im = Image.open(tmp_path / "g.png")
    assert im.mode == "RGB" and im.width >= 256 and im.width % (2 * 10 + 2) == 0
    r, g, b = np.asarray(im)[im.height // 4, im.width // 4]
    assert (r, g, b) == (255, 128, 128)


@pytest.mark.parametrize("shape", [(0, 1, 4, 4), (3, 2, 4, 4), (3, 4, 4)])
def test_bad_shapes(shape):
    with pytest.raises(DataError, match="image grid needs"):
        image_grid(np.zeros(shape))
