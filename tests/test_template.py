"""template: the printable ID box renders with its ruled boxes exactly where they were drawn."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest

from idreader.errors import ConfigError
from idreader.pages import iter_pages
from idreader.template import BOX_MM, LINE_MM, template_geometry, write_template


def _to_pixels(points_mm: np.ndarray, dpi: int) -> np.ndarray:
    return points_mm * dpi / 25.4 - 0.5  # pixel centres at integers


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    mapx = points[..., 0].reshape(1, -1).astype(np.float32)
    mapy = points[..., 1].reshape(1, -1).astype(np.float32)
    return cv2.remap(image.astype(np.float32), mapx, mapy, cv2.INTER_LINEAR).ravel()


@pytest.mark.parametrize("dpi", [150, 300])
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"digits": 10, "name_row": False},
        {"digits": 6, "section_row": True, "label": "ID"},
        {"digits": 18},  # the longest row: moved left to stay on the page
    ],
)
def test_rendered_boxes_are_where_they_were_drawn(tmp_path: Path, dpi: int, options) -> None:
    path = tmp_path / "id_box.pdf"
    write_template(path, **options)
    (page,) = iter_pages(path, dpi=dpi)
    assert page.error is None
    assert page.image.shape == pytest.approx((297 / 25.4 * dpi, 210 / 25.4 * dpi), abs=1)
    cells = _to_pixels(template_geometry(**options).id_cells, dpi)
    assert len(cells) == options.get("digits", 8)
    line_px = LINE_MM / 25.4 * dpi
    for quad in cells:
        centre = quad.mean(axis=0)
        for a, b in ((0, 1), (1, 2), (2, 3), (3, 0)):
            edge = np.linspace(quad[a], quad[b], 9)[1:-1]
            normal = (quad[a] + quad[b]) / 2 - centre
            normal /= np.linalg.norm(normal)
            assert _sample(page.image, edge + normal * line_px / 2).max() < 100  # on the wall
            assert _sample(page.image, edge - normal * 2.0).min() > 240  # just inside
    # the box pitch is 8 mm
    pitch = np.diff(cells[:, 0, 0]) * 25.4 / dpi
    np.testing.assert_allclose(pitch, BOX_MM, atol=1e-6)


def test_template_is_one_a4_page_of_vector_lines(tmp_path: Path) -> None:
    path = tmp_path / "id_box.pdf"
    write_template(path, digits=8)
    with pymupdf.open(path) as doc:
        assert doc.page_count == 1
        page = doc[0]
        assert page.rect.width == pytest.approx(595.28, abs=0.1)
        assert page.rect.height == pytest.approx(841.89, abs=0.1)
        assert page.get_images() == []  # no raster: prints sharp
        widths = {round(d["width"], 3) for d in page.get_drawings()}
        assert widths == {round(LINE_MM * 72 / 25.4, 3)}
        text = page.get_text()
    assert "Student number" in text and "Name" in text and "Section" not in text
    assert "one digit per box, left-aligned" in text


def test_grid_finder_reads_the_template(tmp_path: Path) -> None:
    from idreader.grid import find_id_grid

    path = tmp_path / "id_box.pdf"
    write_template(path, digits=8)
    (page,) = iter_pages(path, dpi=200)
    grid = find_id_grid(page.image)
    assert grid is not None and grid.rotation == 0
    expected = _to_pixels(template_geometry(digits=8).id_cells, 200)
    np.testing.assert_allclose(grid.cells, expected, atol=2.0)


@pytest.mark.parametrize("digits", [0, 19])
def test_digit_count_is_checked(tmp_path: Path, digits: int) -> None:
    with pytest.raises(ConfigError, match="digits") as caught:
        write_template(tmp_path / "x.pdf", digits=digits)
    assert caught.value.exit_code == 2  # a usage error for `idreader template`
    assert not (tmp_path / "x.pdf").exists()


def test_long_label_that_does_not_fit_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not fit"):
        write_template(tmp_path / "x.pdf", digits=18, label="Student identification number")
