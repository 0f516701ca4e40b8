"""Synthetic exam cover pages with real handwritten digits in the ID boxes.

Tests, training and benchmarks need many scanned covers whose truth is known. This
module draws a cover (title, instructions, an ID grid in one of several layouts, an
examiner's marks table), writes caller-supplied handwritten digits (28x28 MNIST-style
arrays, white ink on black) into the ID boxes, and applies scan-like distortions in
the order a scanner would: content -> skew/perspective warp -> blur -> noise ->
binarize/JPEG -> page rotation. The true inner corners of every ID box come back with
the page, exact after the warp.

>>> import numpy as np                                              # doctest: +SKIP
>>> from idreader.synth import DigitBank, Distortion, make_page      # doctest: +SKIP
>>> rng = np.random.default_rng(0)                                   # doctest: +SKIP
>>> bank = DigitBank(images, labels, rng=rng)                        # doctest: +SKIP
>>> page = make_page("20231234", bank, distortion=Distortion(skew=3.0), rng=rng)  # doctest: +SKIP
>>> page.image.shape, page.cells.shape                               # doctest: +SKIP
((2339, 1654), (8, 4, 2))
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np

from .synth_cover import draw_clutter, draw_cover_text
from .synth_draw import Canvas, Geometry, draw_rule, draw_text, layout_geometry
from .synth_ink import draw_digit
from .synth_io import write_pdf, write_truth_csv
from .synth_options import LAYOUT_KINDS, Distortion, Layout
from .synth_scan import distort

__all__ = [
    "LAYOUT_KINDS",
    "DigitBank",
    "Distortion",
    "Layout",
    "SynthPage",
    "make_page",
    "make_strip",
    "write_pdf",
    "write_truth_csv",
]


@dataclass(frozen=True)
class SynthPage:
    """A synthetic scanned page and its truth.

    Attributes
    ----------
    image : ndarray of uint8, shape (H, W)
        The page as scanned, after every distortion (turned when ``rotation`` != 0).
    student_id : str
        The digits written, left to right ("" = blank); later boxes are blank.
    cells : ndarray of float32, shape (n_boxes, 4, 2)
        True inner corners tl, tr, br, bl (x, y) of each ID box in pixels of the
        UPRIGHT page, i.e. ``np.rot90(image, rotation // 90)``.
    rotation : int
        Clockwise turn of the scan (``Distortion.rotation``).
    dpi : int
    layout : Layout
    distortion : Distortion
    """

    image: np.ndarray
    student_id: str
    cells: np.ndarray
    rotation: int
    dpi: int
    layout: Layout
    distortion: Distortion
    page_size_mm: tuple[float, float] = field(default=(210.0, 297.0))

    @property
    def upright_turn(self) -> int:
        """Clockwise turn that makes ``image`` upright (what a grid finder should report)."""
        return (360 - self.rotation) % 360

    def upright(self) -> np.ndarray:
        """The scan turned back upright, the frame ``cells`` are given in."""
        return np.ascontiguousarray(np.rot90(self.image, self.rotation // 90))


class DigitBank:
    """Draws random handwritten images of a requested digit.

    Parameters
    ----------
    images : ndarray of uint8, shape (N, 28, 28)
        MNIST-style digits, white ink on black.
    labels : ndarray of int, shape (N,)
        Their classes 0..9; every class must occur.
    rng : numpy.random.Generator

    Examples
    --------
    >>> bank = DigitBank(images, labels, rng=np.random.default_rng(0))  # doctest: +SKIP
    >>> bank.draw(7).shape                                               # doctest: +SKIP
    (28, 28)
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, *, rng: np.random.Generator):
        if images.ndim != 3 or images.shape[1:] != (28, 28) or len(images) != len(labels):
            raise ValueError("images must be (N, 28, 28) with one label each")
        self._images = images
        self._rng = rng
        labels = np.asarray(labels)
        self._by_digit = [np.flatnonzero(labels == d) for d in range(10)]
        missing = [d for d, idx in enumerate(self._by_digit) if idx.size == 0]
        if missing:
            raise ValueError(f"no images of digit(s) {missing}")

    def draw(self, digit: int) -> np.ndarray:
        """A random uint8 (28, 28) image of ``digit`` (a copy)."""
        return self._images[self._rng.choice(self._by_digit[digit])].astype(np.uint8)


def make_page(
    student_id: str,
    bank: DigitBank,
    *,
    layout: Layout = Layout(),  # noqa: B008 - frozen, so a shared default is safe
    distortion: Distortion = Distortion(),  # noqa: B008
    dpi: int = 200,
    rng: np.random.Generator,
    page_size_mm: tuple[float, float] = (210.0, 297.0),
    digits: Sequence[np.ndarray | None] | None = None,
) -> SynthPage:
    """Draw an exam cover with ``student_id`` handwritten in its ID boxes, then "scan" it.

    Parameters
    ----------
    student_id : str
        Digits to write from the first box on ("" leaves every box blank).
    bank : DigitBank
        Source of the handwritten digit images.
    layout, distortion : Layout, Distortion
    dpi : int
        Scan resolution.
    rng : numpy.random.Generator
    page_size_mm : (float, float)
        Page width and height (A4 by default).
    digits : sequence of (28, 28) uint8 arrays or None, optional
        Images to write instead of drawing them from ``bank`` (None = blank box);
        ``student_id`` is still what is recorded as the truth.

    Returns
    -------
    SynthPage

    Examples
    --------
    >>> page = make_page("0123", bank, layout=Layout(kind="joined", n_boxes=6),
    ...                  rng=np.random.default_rng(1))                 # doctest: +SKIP
    >>> page.student_id, page.cells.shape                            # doctest: +SKIP
    ('0123', (6, 4, 2))
    """
    images = _digit_images(student_id, bank, layout.n_boxes, digits)
    ppm = dpi / 25.4
    shape = (round(page_size_mm[1] * ppm), round(page_size_mm[0] * ppm))
    canvas = Canvas(np.full(shape, 255, np.uint8), ppm, (0.5, 0.5))
    geometry = layout_geometry(
        layout.kind,
        layout.n_boxes,
        layout.box_mm,
        layout.line_mm,
        (layout.position[0] * page_size_mm[0], layout.position[1] * page_size_mm[1]),
        marks_table=layout.marks_table,
        page_size=page_size_mm,
    )
    x0, y0, x1, y1 = geometry.area
    if x0 < 0 or y0 < 0 or x1 > page_size_mm[0] or y1 > page_size_mm[1]:
        raise ValueError(f"the {layout.kind!r} grid at {layout.position} does not fit on the page")
    draw_cover_text(canvas, geometry, rng=rng, page_size=page_size_mm)
    # the "Version" code of a two-grid page is filled in too, as a distractor
    others = [bank.draw(int(rng.integers(10))) for _ in geometry.other_cells]
    cells = _draw_scene(canvas, geometry, images, layout, distortion, rng, others)
    image, cells = distort(canvas.image, cells, distortion, rng=rng)
    return SynthPage(
        image, student_id, cells, distortion.rotation, dpi, layout, distortion, page_size_mm
    )


def make_strip(
    digits: Sequence[np.ndarray | None],
    *,
    layout: Layout = Layout(),  # noqa: B008 - frozen, so a shared default is safe
    distortion: Distortion = Distortion(),  # noqa: B008
    dpi: int = 200,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Just the ID row, with about one box of margin around it (fast, for training).

    Parameters
    ----------
    digits : sequence of (28, 28) uint8 arrays or None
        One per box from the left (None = blank); fewer than ``layout.n_boxes`` leaves
        the last boxes blank.
    layout, distortion, dpi, rng
        As for :func:`make_page`; ``rotation`` and ``perspective`` are ignored.

    Returns
    -------
    image : ndarray of uint8, shape (H, W)
    cells : ndarray of float32, shape (n_boxes, 4, 2)
        True inner box corners tl, tr, br, bl in ``image`` pixels.

    Examples
    --------
    >>> strip, cells = make_strip([bank.draw(3), None, bank.draw(1)],
    ...                           layout=Layout(kind="gapped", n_boxes=4),
    ...                           rng=np.random.default_rng(2))        # doctest: +SKIP
    >>> cells.shape                                                  # doctest: +SKIP
    (4, 4, 2)
    """
    if len(digits) > layout.n_boxes:
        raise ValueError(f"{len(digits)} digits for {layout.n_boxes} boxes")
    images = list(digits) + [None] * (layout.n_boxes - len(digits))
    ppm = dpi / 25.4
    box = layout.box_mm
    row = layout_geometry(  # only for the row's width
        layout.kind,
        layout.n_boxes,
        box,
        layout.line_mm,
        (0.0, 0.0),
        marks_table=False,
        page_size=(0.0, 0.0),
    ).grid_box[2]
    # a skewed row rises at one end and falls at the other: keep its boxes in the strip
    rise = row / 2 * abs(math.sin(math.radians(distortion.skew)))
    geometry = layout_geometry(
        layout.kind,
        layout.n_boxes,
        box,
        layout.line_mm,
        (box, box + rise),
        marks_table=False,
        page_size=(0.0, 0.0),
    )
    size = (round((3 * box + 2 * rise) * ppm), round((row + 2 * box) * ppm))
    canvas = Canvas(np.full(size, 255, np.uint8), ppm, (0.5, 0.5))
    cells = _draw_scene(canvas, geometry, images, layout, distortion, rng)
    flat = replace(distortion, rotation=0, perspective=0.0)
    return distort(canvas.image, cells, flat, rng=rng)


def _digit_images(
    student_id: str,
    bank: DigitBank,
    n_boxes: int,
    digits: Sequence[np.ndarray | None] | None,
) -> list[np.ndarray | None]:
    if not re.fullmatch("[0-9]*", student_id):
        raise ValueError(f"student_id must be digits, not {student_id!r}")
    if len(student_id) > n_boxes:
        raise ValueError(f"{len(student_id)}-digit ID for {n_boxes} boxes")
    if digits is None:
        digits = [bank.draw(int(c)) for c in student_id]
    if len(digits) > n_boxes:
        raise ValueError(f"{len(digits)} digits for {n_boxes} boxes")
    return list(digits) + [None] * (n_boxes - len(digits))


def _draw_scene(
    canvas: Canvas,
    geometry: Geometry,
    images: Sequence[np.ndarray | None],
    layout: Layout,
    distortion: Distortion,
    rng: np.random.Generator,
    other_images: Sequence[np.ndarray] = (),
) -> np.ndarray:
    """Rules, clutter and handwriting; returns the ID cells in canvas pixels."""
    for segment in geometry.lines:
        draw_rule(
            canvas,
            segment,
            layout.line_mm,
            distortion.line_gray,
            broken=distortion.broken_lines,
            rng=rng,
        )
    for text, x, y, height in geometry.texts:
        draw_text(canvas, text, x, y, height)
    draw_clutter(canvas, geometry, distortion.specks, distortion.stray_marks, rng=rng)
    written = [*zip(geometry.id_cells, images, strict=True)]
    if other_images:  # a strip has no room for the other grid's digits
        written += zip(geometry.other_cells, other_images, strict=True)
    for cell, image in written:
        if image is not None:
            draw_digit(
                canvas,
                image,
                cell,
                rng=rng,
                ink_gray=distortion.ink_gray,
                stroke_scale=distortion.stroke_scale,
                jitter=distortion.digit_jitter,
                cross_border=distortion.cross_border,
                cross_push=distortion.cross_push,
                cross_sides=distortion.cross_sides,
            )
    cells = geometry.id_cells * canvas.ppm - np.asarray(canvas.origin)
    return cells.astype(np.float32)
