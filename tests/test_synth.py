"""synth: the box corners it reports are where the ruled lines and the handwriting really are."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
import numpy as np
import pytest

from idreader.pages import iter_pages
from idreader.synth import (
    DigitBank,
    Distortion,
    Layout,
    make_page,
    make_strip,
    write_pdf,
    write_truth_csv,
)
from idreader.synth_options import CROSS_SIDES

DPI = 200
LINE_PX = 0.35 / 25.4 * DPI  # default rule width in pixels


@pytest.fixture()
def bank(mnist, rng) -> DigitBank:
    images, labels = mnist
    return DigitBank(images, labels, rng=rng)


def _sample(image: np.ndarray, points: np.ndarray) -> np.ndarray:
    """Bilinear gray values at (k, 2) x, y points."""
    mapx = points[:, 0].reshape(1, -1).astype(np.float32)
    mapy = points[:, 1].reshape(1, -1).astype(np.float32)
    return cv2.remap(image.astype(np.float32), mapx, mapy, cv2.INTER_LINEAR).ravel()


def _edge_points(cells: np.ndarray, offset: float) -> np.ndarray:
    """Points along the middle of every box edge, moved ``offset`` px outwards."""
    out = []
    for quad in cells.astype(np.float64):
        centre = quad.mean(axis=0)
        for a, b in ((0, 1), (1, 2), (2, 3), (3, 0)):
            normal = (quad[a] + quad[b]) / 2 - centre
            normal /= np.linalg.norm(normal)
            for t in np.linspace(0.2, 0.8, 7):
                out.append(quad[a] + (quad[b] - quad[a]) * t + normal * offset)
    return np.array(out)


def _inner_ink(image: np.ndarray, quad: np.ndarray, *, margin: float) -> np.ndarray:
    """Fraction of pixels darker than 128 inside ``quad`` shrunk by ``margin`` px."""
    centre = quad.mean(axis=0)
    shrunk = centre + (quad - centre) * (1 - 2 * margin / np.linalg.norm(quad[2] - quad[0]) * 1.4)
    mask = np.zeros(image.shape, np.uint8)
    cv2.fillConvexPoly(mask, np.round(shrunk).astype(np.int32), 1)
    return float((image[mask == 1] < 128).mean())


@pytest.mark.parametrize("kind", ["table", "joined", "gapped", "two_grids"])
@pytest.mark.parametrize("skew", [0.0, 8.0, 15.0])
def test_cells_lie_on_the_ruled_lines(bank, rng, kind: str, skew: float) -> None:
    page = make_page("", bank, layout=Layout(kind=kind), distortion=Distortion(skew=skew), rng=rng)
    assert page.cells.shape == (8, 4, 2) and page.cells.dtype == np.float32
    on_line = _sample(page.image, _edge_points(page.cells, LINE_PX / 2))
    inside = _sample(page.image, _edge_points(page.cells, -2.5))
    assert np.median(on_line) < 40 and np.percentile(on_line, 90) < 110
    assert np.median(inside) > 245


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_cells_are_in_upright_coordinates_for_every_rotation(mnist, rotation: int) -> None:
    def page(turn: int):
        distortion = Distortion(skew=5.0, rotation=turn, perspective=0.01)
        bank = DigitBank(*mnist, rng=np.random.default_rng(0))
        return make_page("31415926", bank, distortion=distortion, rng=np.random.default_rng(7))

    turned, straight = page(rotation), page(0)
    h, w = straight.image.shape
    assert turned.image.shape == ((w, h) if rotation in (90, 270) else (h, w))
    assert turned.rotation == rotation and turned.upright_turn == (360 - rotation) % 360
    np.testing.assert_array_equal(turned.upright(), straight.image)
    np.testing.assert_array_equal(turned.cells, straight.cells)
    # the scan is the upright page turned clockwise: its top-left corner is now top-right
    if rotation == 90:
        np.testing.assert_array_equal(turned.image[:, -1], straight.image[0])
    on_line = _sample(turned.upright(), _edge_points(turned.cells, LINE_PX / 2))
    assert np.median(on_line) < 60


def test_digits_written_appear_in_their_boxes(mnist) -> None:
    images, labels = mnist
    chosen = [int(np.flatnonzero(labels == d)[0]) for d in (3, 1, 4, 1, 5, 9)]
    digits = [images[i] for i in chosen]
    page = make_page(
        "314159",
        DigitBank(images, labels, rng=np.random.default_rng(0)),
        digits=digits,
        rng=np.random.default_rng(3),
    )
    upright = page.image
    # each box holds exactly the digit written there: normalise both to 20x20 and compare
    crops = [_normalised(255 - _warp_box(upright, quad)[3:-3, 3:-3]) for quad in page.cells[:6]]
    sources = [_normalised(d) for d in digits]
    similarity = np.array(
        [[np.corrcoef(c.ravel(), s.ravel())[0, 1] for s in sources] for c in crops]
    )
    for i, row in enumerate(similarity):
        # the two "1"s are interchangeable; any other digit must match worse
        same = [j for j in range(6) if page.student_id[j] == page.student_id[i]]
        assert row[same].max() > 0.7
        assert row[same].max() == row.max()
    assert all(_inner_ink(upright, quad, margin=3) > 0.03 for quad in page.cells[:6])
    assert all(_inner_ink(upright, quad, margin=3) == 0.0 for quad in page.cells[6:])


def _warp_box(image: np.ndarray, quad: np.ndarray, size: int = 64) -> np.ndarray:
    target = np.float32([[0, 0], [size - 1, 0], [size - 1, size - 1], [0, size - 1]])
    matrix = cv2.getPerspectiveTransform(quad.astype(np.float32), target)
    return cv2.warpPerspective(image, matrix, (size, size), borderValue=255)


def _normalised(ink: np.ndarray) -> np.ndarray:
    """Crop white-on-black ink to its bounding box and resize to 20x20."""
    mask = ink > 60
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    crop = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    return cv2.resize(crop.astype(np.float32), (20, 20), interpolation=cv2.INTER_AREA)


@pytest.mark.parametrize("kind", ["table", "gapped"])
def test_blank_id_leaves_boxes_empty_even_with_stray_marks(bank, rng, kind: str) -> None:
    distortion = Distortion(stray_marks=40, skew=3.0)
    page = make_page("", bank, layout=Layout(kind=kind), distortion=distortion, rng=rng)
    assert page.student_id == ""
    assert [_inner_ink(page.image, q, margin=2) for q in page.cells] == [0.0] * 8
    # the stray marks were drawn, next to the grid
    x0, y0 = page.cells[:, 0].min(axis=0).astype(int)
    x1, y1 = page.cells[:, 2].max(axis=0).astype(int)
    box = int(y1 - y0)
    around = page.image[y0 - 2 * box : y0 - box // 2, x0:x1]
    assert (around < 128).mean() > 0.001


def test_short_id_leaves_trailing_boxes_blank(bank, rng) -> None:
    page = make_page("042", bank, layout=Layout(kind="joined", n_boxes=10), rng=rng)
    ink = [_inner_ink(page.image, q, margin=3) for q in page.cells]
    assert min(ink[:3]) > 0.03 and ink[3:] == [0.0] * 7


def test_same_seed_same_page(bank, mnist) -> None:
    distortion = Distortion(skew=2.0, blur=0.8, noise=6.0, jpeg_quality=75, specks=5)
    pages = [
        make_page(
            "12345678",
            DigitBank(*mnist, rng=np.random.default_rng(5)),
            distortion=distortion,
            rng=np.random.default_rng(9),
        )
        for _ in range(2)
    ]
    np.testing.assert_array_equal(pages[0].image, pages[1].image)


def test_scan_effects_have_their_measured_size(bank, rng) -> None:
    clean = make_page("", bank, distortion=Distortion(background=230), rng=rng).image
    noisy = make_page("", bank, distortion=Distortion(background=230, noise=8.0), rng=rng).image
    paper = (slice(1400, 1600), slice(200, 1400))  # empty paper between text and marks table
    assert np.all(clean[paper] == 230)
    assert noisy[paper].mean() == pytest.approx(230, abs=0.5)
    assert noisy[paper].std() == pytest.approx(8.0, rel=0.1)
    fax = make_page("1", bank, distortion=Distortion(binarize=True, noise=10.0), rng=rng).image
    assert set(np.unique(fax)) == {0, 255}


def test_pencil_ink_is_gray(mnist, rng) -> None:
    images, labels = mnist
    page = make_page(
        "88888888",
        DigitBank(images, labels, rng=rng),
        distortion=Distortion(ink_gray=90),
        layout=Layout(kind="gapped"),
        rng=rng,
    )
    quad = page.cells[0]
    crop = _warp_box(page.image, quad)[8:-8, 8:-8]
    assert 85 <= crop.min() <= 100


def test_make_strip_cells_digits_and_blanks(bank, rng) -> None:
    digits = [bank.draw(7), None, bank.draw(0)]
    layout = Layout(kind="gapped", n_boxes=5)
    image, cells = make_strip(digits, layout=layout, distortion=Distortion(skew=4.0), rng=rng)
    assert image.dtype == np.uint8 and cells.shape == (5, 4, 2)
    # one box of margin around a 5-box gapped row (8 mm boxes, 2.4 mm gaps), plus the
    # rise of the skewed row's ends
    row_mm = 5 * 8 + 4 * 2.4
    rise_mm = row_mm / 2 * np.sin(np.radians(4.0))
    assert image.shape[1] == pytest.approx((row_mm + 16) / 25.4 * DPI, abs=1)
    assert image.shape[0] == pytest.approx((24 + 2 * rise_mm) / 25.4 * DPI, abs=1)
    assert np.median(_sample(image, _edge_points(cells, LINE_PX / 2))) < 40
    ink = [_inner_ink(image, q, margin=3) for q in cells]
    assert ink[0] > 0.03 and ink[2] > 0.03 and ink[1] == ink[3] == ink[4] == 0.0


def test_make_strip_rejects_too_many_digits(bank, rng) -> None:
    with pytest.raises(ValueError, match="5 digits for 4 boxes"):
        make_strip([bank.draw(1)] * 5, layout=Layout(n_boxes=4), rng=rng)


@pytest.mark.parametrize(
    ("factory", "message"),
    [
        (lambda: Distortion(rotation=45), "rotation"),
        (lambda: Distortion(cross_push=(0.4, 0.2)), "cross_push"),
        (lambda: Distortion(cross_sides="up"), "cross_sides"),
        (lambda: Layout(kind="circle"), "kind"),
        (lambda: Layout(n_boxes=3), "n_boxes"),
    ],
)
def test_invalid_options_are_rejected(factory, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        factory()


def test_non_digit_id_is_rejected(bank, rng) -> None:
    with pytest.raises(ValueError, match="digits"):
        make_page("12a4", bank, rng=rng)


def test_write_pdf_round_trips_through_iter_pages(bank, rng, tmp_path: Path) -> None:
    pages = [
        make_page("1234", bank, distortion=Distortion(rotation=r), rng=rng).image
        for r in (0, 90, 0)
    ]
    path = tmp_path / "scans.pdf"
    write_pdf(pages, path, dpi=DPI)
    read = list(iter_pages(path, dpi=DPI))
    assert len(read) == 3
    for original, page in zip(pages, read, strict=True):
        assert page.error is None
        assert abs(page.image.shape[0] - original.shape[0]) <= 1
        assert abs(page.image.shape[1] - original.shape[1]) <= 1
        h, w = (
            min(page.image.shape[0], original.shape[0]),
            min(page.image.shape[1], original.shape[1]),
        )
        diff = np.abs(page.image[:h, :w].astype(int) - original[:h, :w])
        assert diff.mean() < 2.0


def test_write_truth_csv_keeps_leading_zeros(tmp_path: Path) -> None:
    path = tmp_path / "truth.csv"
    write_truth_csv([("demo.pdf", 1, "01234567"), ("demo.pdf", 2, "")], path)
    with open(path, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows == [
        {"source": "demo.pdf", "page": "1", "student_id": "01234567"},
        {"source": "demo.pdf", "page": "2", "student_id": ""},
    ]


@pytest.mark.parametrize(
    ("cross_border", "push", "expect_outside"),
    [(0.0, (0.3, 0.45), False), (1.0, (0.3, 0.45), True), (1.0, (0.0, 0.0), False)],
)
def test_cross_border_pushes_digits_over_the_walls(
    bank, rng, cross_border: float, push: tuple[float, float], expect_outside: bool
) -> None:
    distortion = Distortion(cross_border=cross_border, cross_push=push, digit_jitter=0.15)
    layout = Layout(kind="gapped", marks_table=False)
    page = make_page("12345678", bank, layout=layout, distortion=distortion, rng=rng)
    # ink outside every box (walls included) within a band one box around the row
    boxes = np.zeros(page.image.shape, np.uint8)
    for quad in page.cells:
        centre = quad.mean(axis=0)
        outer = centre + (quad - centre) * (1 + 2 * (LINE_PX + 1) / (quad[1, 0] - quad[0, 0]))
        cv2.fillConvexPoly(boxes, np.round(outer).astype(np.int32), 1)
    (x0, y0), (x1, y1) = page.cells[0, 0].astype(int), page.cells[-1, 2].astype(int)
    box = y1 - y0
    band = (slice(y0 - box, y1 + box), slice(x0 - 5, x1 + box // 2))
    outside = (page.image[band] < 128) & (boxes[band] == 0)
    assert (outside.sum() > 50) == expect_outside


@pytest.mark.parametrize("skew", [-15.0, 0.0, 15.0])
@pytest.mark.parametrize("dpi", [150, 300])
def test_make_strip_keeps_skewed_boxes_inside(bank, rng, skew: float, dpi: int) -> None:
    layout = Layout(kind="table", n_boxes=12)
    image, cells = make_strip(
        [bank.draw(8)] * 12, layout=layout, distortion=Distortion(skew=skew), dpi=dpi, rng=rng
    )
    box_px = 8 / 25.4 * dpi
    h, w = image.shape
    assert cells[..., 0].min() > box_px * 0.8 and cells[..., 0].max() < w - box_px * 0.8
    assert cells[..., 1].min() > box_px * 0.8 and cells[..., 1].max() < h - box_px * 0.8
    line_px = 0.35 / 25.4 * dpi
    assert np.median(_sample(image, _edge_points(cells, line_px / 2))) < 60
    assert min(_inner_ink(image, q, margin=3) for q in cells) > 0.03


def test_layout_off_the_page_is_rejected(bank, rng) -> None:
    with pytest.raises(ValueError, match="does not fit"):
        make_page("1", bank, layout=Layout(n_boxes=16, position=(0.5, 0.22)), rng=rng)


@pytest.mark.parametrize("dpi", [150, 300])
def test_cells_follow_the_dpi(bank, rng, dpi: int) -> None:
    page = make_page("", bank, distortion=Distortion(skew=-8.0), dpi=dpi, rng=rng)
    assert page.image.shape == (round(297 / 25.4 * dpi), round(210 / 25.4 * dpi))
    inner = (8 - 0.35) / 25.4 * dpi
    sides = np.linalg.norm(page.cells[:, 1] - page.cells[:, 0], axis=1)
    np.testing.assert_allclose(sides, inner, rtol=1e-4)
    line_px = 0.35 / 25.4 * dpi
    assert np.median(_sample(page.image, _edge_points(page.cells, line_px / 2))) < 60
    assert np.median(_sample(page.image, _edge_points(page.cells, -2.5))) > 245


@pytest.mark.parametrize("kind", ["joined", "gapped", "table", "two_grids"])
def test_make_strip_accepts_every_layout_kind(bank, rng, kind: str) -> None:
    # regression: two_grids strips raised "zip() argument 2 is shorter than argument 1"
    image, cells = make_strip([bank.draw(2), None], layout=Layout(kind=kind), rng=rng)
    ink = [_inner_ink(image, q, margin=3) for q in cells]
    assert ink[0] > 0.03 and ink[1:] == [0.0] * 7


@pytest.mark.parametrize("skew", [-6.0, 4.0])
def test_positive_skew_turns_the_row_counter_clockwise(bank, rng, skew: float) -> None:
    page = make_page("", bank, distortion=Distortion(skew=skew), rng=rng)
    (x0, y0), (x1, y1) = page.cells[0, 0], page.cells[-1, 1]
    # image y points down: a counter-clockwise turn lifts the row's right end
    assert np.degrees(np.arctan2(y1 - y0, x1 - x0)) == pytest.approx(-skew, abs=1e-3)


def _ink_beside_and_around_the_row(sides: str, mnist) -> tuple[int, int]:
    """Ink pixels in the gaps between boxes, and above or below the row, of a gapped
    row whose every digit is pushed toward ``sides``."""
    images, labels = mnist
    distortion = Distortion(cross_border=1.0, cross_sides=sides)
    layout = Layout(kind="gapped", marks_table=False)
    bank = DigitBank(images, labels, rng=np.random.default_rng(4))
    page = make_page("12345678", bank, layout=layout, distortion=distortion,
                     rng=np.random.default_rng(4))  # fmt: skip
    ink = page.image < 128
    margin = int(LINE_PX) + 2
    top, bottom = int(page.cells[:, :, 1].min()) - margin, int(page.cells[:, :, 1].max()) + margin
    box = bottom - top
    gaps = sum(int(ink[top:bottom, int(a[1, 0]) + margin : int(b[0, 0]) - margin].sum())
               for a, b in zip(page.cells[:-1], page.cells[1:], strict=True))  # fmt: skip
    x0, x1 = int(page.cells[0, 0, 0]), int(page.cells[-1, 1, 0])
    around = int(ink[top - box : top, x0:x1].sum() + ink[bottom : bottom + box, x0:x1].sum())
    return gaps, around


def test_cross_sides_choose_the_walls_digits_are_pushed_across(mnist) -> None:
    sideways, out_of_row = (_ink_beside_and_around_the_row(s, mnist) for s in CROSS_SIDES[1:])
    assert sideways[0] > 100 and sideways[1] == 0
    assert out_of_row[0] == 0 and out_of_row[1] > 100
