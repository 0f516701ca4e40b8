"""Debug pictures: a real synthetic page through grid finding and cell cleaning."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from idreader.cells import clean_cells
from idreader.debug import CELL_ZOOM, write_page_debug
from idreader.grid import find_grid_candidates, upright
from idreader.synth import DigitBank, Distortion, Layout, make_page


@pytest.fixture(scope="module")
def turned_page(mnist):
    images, labels = mnist
    rng = np.random.default_rng(4)
    return make_page("1234567", DigitBank(images, labels, rng=rng),
                     layout=Layout(kind="two_grids", n_boxes=8),
                     distortion=Distortion(rotation=90, skew=3.0), dpi=100, rng=rng)  # fmt: skip


def test_overlay_and_cell_strip(tmp_path, turned_page):
    candidates = find_grid_candidates(turned_page.image)
    chosen = candidates[0]
    image = upright(turned_page.image, chosen.rotation)
    cells = clean_cells(image, chosen)
    written = write_page_debug(tmp_path, "exam_p0001", image, candidates, chosen, cells)
    assert [p.name for p in written] == ["exam_p0001_overlay.png", "exam_p0001_cells.png"]
    overlay = cv2.imread(str(written[0]))
    assert overlay.shape[:2] == image.shape
    # the chosen cells are outlined in green, on the upright page
    green = (overlay[..., 1] > 150) & (overlay[..., 0] < 60) & (overlay[..., 2] < 60)
    x0, y0 = chosen.cells[..., 0].min(), chosen.cells[..., 1].min()
    x1, y1 = chosen.cells[..., 0].max(), chosen.cells[..., 1].max()
    inside = green[int(y0) - 3 : int(y1) + 4, int(x0) - 3 : int(x1) + 4].sum()
    assert inside > 0.8 * green.sum() > 0
    # the alternatives (here the 3-box "Version" grid and the marks table) are in orange
    orange = (overlay[..., 2] > 200) & (overlay[..., 1] > 100) & (overlay[..., 1] < 180)
    orange &= overlay[..., 0] < 60
    assert orange[int(y1) + 10 :].sum() > 0
    strip = cv2.imread(str(written[1]), cv2.IMREAD_GRAYSCALE)
    assert strip.shape[1] == chosen.n_cells * (28 * CELL_ZOOM + 4)
    # each tile shows its cell, enlarged
    first = strip[: 28 * CELL_ZOOM, : 28 * CELL_ZOOM]
    expected = cv2.resize(cells.images[0], first.shape[::-1], interpolation=cv2.INTER_NEAREST)
    assert np.abs(first.astype(int) - np.round(expected * 255).astype(int)).max() <= 1


def test_page_without_grid_writes_only_the_overlay(tmp_path):
    page = np.full((300, 200), 255, np.uint8)
    before = page.copy()
    written = write_page_debug(tmp_path / "new", "blank", page, [], None, None)
    assert [p.name for p in written] == ["blank_overlay.png"]
    assert cv2.imread(str(written[0])).shape == (300, 200, 3)
    np.testing.assert_array_equal(page, before)
