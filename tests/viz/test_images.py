"""Image sample grids: layout, value mapping, enlargement of tiny images, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from gankit.errors import DataError
from gankit.viz.images import CLASS_TILE, class_grid, class_labels, grid_shape, image_grid, save_image_grid


def test_grid_layout_and_value_mapping():
    x = np.full((10, 1, 4, 4), -1.0, dtype=np.float32)
    x[3] = 1.0  # one white tile
    im = image_grid(x, nrow=5, pad=2, min_side=0, min_tile=0)
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


@pytest.mark.parametrize(("n", "shape"), [(1, (1, 1)), (2, (1, 2)), (4, (2, 2)), (5, (2, 3)), (7, (2, 4)), (8, (2, 4)),
                                          (9, (3, 3)), (12, (3, 4)), (16, (4, 4)), (1000, (25, 40))])
def test_grid_shape_is_square_ish_with_few_empty_cells(n, shape):
    """`gankit sample --text ... -n 8` made a 4 x 2 column (rows x cols); a grid is now wider than tall."""
    assert grid_shape(n) == shape
    rows, cols = shape
    assert rows <= cols <= 2 * rows and rows * cols - n < cols  # never a whole empty row


def test_grid_shape_ratio_and_bad_count():
    assert grid_shape(3, max_ratio=3) == (1, 3) and grid_shape(3) == (2, 2)
    assert grid_shape(7, max_ratio=1) == (3, 3)
    with pytest.raises(DataError, match="at least one tile"):
        grid_shape(0)


def test_automatic_columns_and_tiny_images_enlarged_to_a_readable_tile():
    x = np.zeros((8, 1, 8, 8), dtype=np.float32)
    im = image_grid(x, nrow=None, pad=2, min_side=0)  # 2 rows of 4, 8 px digits at >= 32 px: x4
    assert im.size == ((4 * 10 + 2) * 4, (2 * 10 + 2) * 4)
    assert image_grid(np.zeros((1, 3, 64, 64)), pad=0, min_side=0).size == (64, 64)  # large enough: as is


def test_class_grid_rows_are_labelled_and_readable():
    """classes.png was 300 x 300 px for ten 8 px digits a class, with no row labels."""
    k, per = 10, 10
    x = -np.ones((k, per, 1, 8, 8), dtype=np.float32)  # black tiles on white
    im = class_grid(x)
    tile = 8 * 6  # 8 px enlarged x6 to CLASS_TILE = 48 px
    grid_w, grid_h = per * 10 * 6 + 2 * 6, k * 10 * 6 + 2 * 6
    assert tile == CLASS_TILE and im.height == grid_h and grid_w < im.width < grid_w + 60
    a = np.asarray(im)
    margin = im.width - grid_w
    assert a[12:12 + tile, margin + 12:margin + 12 + tile].max() == 0  # the first tile, black
    for r in range(k):  # ink beside every row, nothing between rows
        top = 12 + r * 60
        assert (a[top:top + tile, :margin] < 128).sum() > 10, f"no label on row {r}"
        assert (a[top + tile:top + 60, :margin] == 255).all()
    named = class_grid(x, names=[f"class name {i}" for i in range(k)])
    assert named.width > im.width and named.height == im.height
    assert class_labels(3, ("0", "1", "2")) == ["0", "1", "2"]
    assert class_labels(3, ("T-shirt/top", "Trouser")) == ["0 T-shirt/top", "1 Trouser", "2"]
    with pytest.raises(DataError, match=r"\(K, n, C, H, W\)"):
        class_grid(x[0])
