"""Find the ID grid (the row of digit boxes) on a page image.

The search runs on a copy of the page shrunk to about 100 dpi (:mod:`idreader.grid_boxes`):
binarise, estimate the skew from box-like shapes, deskew, find horizontal rules, and in
each band between two rules the walls that span it; the longest chain of equal boxes
per band is a row (:mod:`idreader.grid_bands`). Each row becomes an :class:`IDGrid`
candidate; the winner's cell corners are then refined on the full-resolution page
(:mod:`idreader.grid_refine`).

Choosing the ID grid (the documented rule)
------------------------------------------
Candidates are ranked by ``score``:

``score = n_cells + 2 * regularity + 3 * squareness + position``

* ``regularity`` in [0, 1]: 1 minus the spread (coefficient of variation) of box widths,
  heights and spacing;
* ``squareness`` in [0, 1]: mean ``min(w, h) / max(w, h)`` of the boxes;
* ``position`` in [0, 1]: 1 minus the grid's relative height on the upright page (the
  ID grid sits near the top of a cover; a marks table near the bottom);
* rows of fewer than 4 or more than 16 boxes, or whose boxes are not roughly square
  (median width / height outside [0.6, 1.5]), lose 10 and are implausible: they rank
  after every plausible row, and a page with only implausible rows (a marks table,
  graph paper, a 3-box code grid) has no ID grid;
* when ``id_length`` is given, rows with exactly that many boxes gain 100 and are
  plausible.

So with ``id_length`` the grid of that length wins; otherwise the longest regular row.

Rotation (the documented rule)
------------------------------
A row of boxes that runs vertically means the page was turned by 90 or 270 degrees; a
horizontal row means 0 or 180. Between the two, idreader picks the turn after which
(a) more ink (the "Student number" label) lies left of the grid than right of it and
(b) the grid sits higher on the page: ``(left - right) / (left + right) + (0.5 - y / H)``
must be positive, with ``y / H`` the grid's relative height on the upright page.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from statistics import median  # np.median costs tens of microseconds on a few values

import cv2
import numpy as np

from .grid_bands import SQUARE
from .grid_boxes import (
    Row,
    binarize,
    downscale,
    estimate_skew,
    find_rows,
    rotate_matrix,
)
from .grid_geometry import from_upright, order_corners, to_upright, upright
from .grid_refine import refine_cells

logger = logging.getLogger(__name__)

#: A reading inside boxes this much taller than its own is a cut of them, not a row.
INNER_RATIO = 1.05

__all__ = [
    "IDGrid",
    "find_grid_candidates",
    "find_id_grid",
    "from_upright",
    "to_upright",
    "upright",
]


@dataclass(frozen=True)
class IDGrid:
    """A row of digit boxes found on a page.

    Attributes
    ----------
    cells : np.ndarray
        float32 (n, 4, 2): each box's inner corners tl, tr, br, bl, left to right, in
        pixels of the upright page image (``upright(image, rotation)``).
    rotation : int
        0/90/180/270: clockwise turn that made the page upright.
    skew : float
        Degrees, the row's angle in the upright page (``atan2(dy, dx)`` with y down, so
        positive means the row descends to the right).
    box : tuple of float
        ``x0, y0, x1, y1`` of the grid in original (unrotated) page pixels.
    score : float
        Higher is more grid-like; used to rank candidates (see the module docstring).
    """

    cells: np.ndarray
    rotation: int
    skew: float
    box: tuple[float, float, float, float]
    score: float

    @property
    def n_cells(self) -> int:
        return int(self.cells.shape[0])


def _to_gray(image: np.ndarray) -> np.ndarray:
    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


def _band_ink(ink: np.ndarray, x0: float, x1: float, y0: float, y1: float) -> float:
    h, w = ink.shape
    xa, xb = int(max(0, x0)), int(min(w, x1))
    ya, yb = int(max(0, y0)), int(min(h, y1))
    if xb <= xa or yb <= ya:
        return 0.0
    return float(np.count_nonzero(ink[ya:yb, xa:xb])) / ((xb - xa) * (yb - ya))


def _choose_rotation(row: Row, ink: np.ndarray) -> tuple[int, float]:
    """Rotation per the module rule, and the upright relative height of the grid."""
    r = row.rects
    x0, y0 = r[:, 0].min(), r[:, 1].min()
    x1, y1 = (r[:, 0] + r[:, 2]).max(), (r[:, 1] + r[:, 3]).max()
    h, w = ink.shape
    if not row.vertical:
        s = float(median(r[:, 3].tolist()))
        before = _band_ink(ink, x0 - 6 * s, x0 - 0.4 * s, y0 - 0.2 * s, y1 + 0.2 * s)
        after = _band_ink(ink, x1 + 0.4 * s, x1 + 6 * s, y0 - 0.2 * s, y1 + 0.2 * s)
        rel = (y0 + y1) / 2 / h
        options = (0, 180)
    else:
        s = float(median(r[:, 2].tolist()))
        # Turned clockwise by 90, the bottom of this page becomes the upright left.
        before = _band_ink(ink, x0 - 0.2 * s, x1 + 0.2 * s, y1 + 0.4 * s, y1 + 6 * s)
        after = _band_ink(ink, x0 - 0.2 * s, x1 + 0.2 * s, y0 - 6 * s, y0 - 0.4 * s)
        rel = (x0 + x1) / 2 / w
        options = (90, 270)
    side = (before - after) / max(before + after, 1e-6)
    vote = side + (0.5 - rel)
    return (options[0], rel) if vote >= 0 else (options[1], 1.0 - rel)


def _row_score(row: Row, rel_height: float, id_length: int | None) -> tuple[float, bool]:
    """The row's score and whether it is a plausible ID grid (module docstring)."""
    rects = row.rects[:, [1, 0, 3, 2]] if row.vertical else row.rects
    n = len(rects)
    widths, heights = rects[:, 2], rects[:, 3]  # along and across the row
    pitch = np.diff(rects[:, 0] + widths / 2)

    def cv(v: np.ndarray) -> float:
        return float(np.std(v) / max(np.mean(v), 1e-6)) if len(v) else 0.0

    regularity = max(0.0, 1.0 - cv(widths) - cv(heights) - cv(pitch))
    aspect = float(median((widths / heights).tolist()))
    squareness = float(np.mean(np.minimum(widths, heights) / np.maximum(widths, heights)))
    score = n + 2 * regularity + 3 * squareness + (1.0 - rel_height)
    plausible = 4 <= n <= 16 and SQUARE[0] <= aspect <= SQUARE[1]
    if not plausible:
        score -= 10
    if id_length is not None and n == id_length:
        score += 100
        plausible = True
    return score, plausible


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    """Area of box ``a`` that lies inside box ``b``, as a fraction of ``a``."""
    ix = min(a[2], b[2]) - max(a[0], b[0])
    iy = min(a[3], b[3]) - max(a[1], b[1])
    area = max((a[2] - a[0]) * (a[3] - a[1]), 1e-6)
    return max(ix, 0.0) * max(iy, 0.0) / area


def _cell_size(grid: IDGrid) -> tuple[float, float]:
    """Median box width and height on the upright page."""
    c = grid.cells
    width = np.linalg.norm(c[:, 1] - c[:, 0], axis=1)
    height = np.linalg.norm(c[:, 3] - c[:, 0], axis=1)
    return float(median(width.tolist())), float(median(height.tolist()))


def _suppress_overlaps(ranked: list[IDGrid]) -> list[IDGrid]:
    """One reading per row of boxes.

    Handwritten strokes can pose as rules and walls and yield a second reading of a row
    in smaller boxes inside the real ones: a candidate lying inside a row of square-ish
    boxes taller than its own is dropped, whatever its score (a handwritten "rule"
    across the boxes cuts them lower; an ``id_length`` bonus must not let such a cut
    win). Of two candidates that otherwise overlap, the better one stays.
    """
    sizes = [_cell_size(g) for g in ranked]
    inner = set()
    for i, (g, (_, h)) in enumerate(zip(ranked, sizes, strict=True)):
        for k, (wk, hk) in zip(ranked, sizes, strict=True):
            if (
                k is not g
                and hk >= INNER_RATIO * h
                and SQUARE[0] <= wk / hk <= SQUARE[1]
                and _overlap(g.box, k.box) > 0.8
            ):
                inner.add(i)
    kept: list[IDGrid] = []
    for i, g in enumerate(ranked):
        if i not in inner and all(_overlap(g.box, k.box) <= 0.3 for k in kept):
            kept.append(g)
    return kept


def find_grid_candidates(image: np.ndarray, *, id_length: int | None = None) -> list[IDGrid]:
    """All rows of digit boxes on a page, best first.

    Parameters
    ----------
    image : np.ndarray
        uint8 (H, W) gray page (colour is converted); any size and resolution.
    id_length : int or None
        Expected number of digits; a row of exactly this many boxes wins.

    Returns
    -------
    list of IDGrid
        Ranked by ``score`` (see the module docstring); empty when the page has no grid.

    Examples
    --------
    >>> find_grid_candidates(np.full((400, 300), 255, np.uint8))
    []
    """
    gray = _to_gray(np.asarray(image))
    if gray.ndim != 2 or min(gray.shape) < 16:
        return []
    small, factor = downscale(gray)
    ink = binarize(small)
    angle = estimate_skew(ink)
    matrix, size = rotate_matrix(ink.shape, angle)
    flat = cv2.warpAffine(ink, matrix, size[::-1], flags=cv2.INTER_NEAREST)
    rows = find_rows(flat)
    inverse = cv2.invertAffineTransform(matrix)
    candidates = []
    for row in rows:
        rotation, rel_height = _choose_rotation(row, flat)
        x, y, w, h = (row.rects[:, i, None] - 0.5 for i in range(4))
        quads = np.stack(
            [
                np.concatenate([x, y], 1),
                np.concatenate([x + w + 1, y], 1),
                np.concatenate([x + w + 1, y + h + 1], 1),
                np.concatenate([x, y + h + 1], 1),
            ],
            axis=1,
        )
        quads = quads @ inverse[:, :2].T + inverse[:, 2]
        quads = (quads + 0.5) * factor - 0.5
        score, plausible = _row_score(row, rel_height, id_length)
        candidates.append((not plausible, _make_grid(quads, rotation, score, gray.shape)))
    if all(implausible for implausible, _ in candidates):
        # a marks table, graph paper or a short code grid alone is no ID grid
        return []
    ranked = [g for _, g in sorted(candidates, key=lambda c: (c[0], -c[1].score))]
    candidates = _suppress_overlaps(ranked)
    if candidates:
        # Only the winner is refined at full resolution; the others are alternatives
        # for the debug output, good to about one working-scale pixel.
        best = candidates[0]
        quads = refine_cells(gray, from_upright(best.cells, best.rotation, gray.shape))
        candidates[0] = _make_grid(quads, best.rotation, best.score, gray.shape)
    logger.debug("%d grid candidates, skew estimate %.2f deg", len(candidates), angle)
    return candidates


def _make_grid(quads: np.ndarray, rotation: int, score: float, shape: tuple[int, int]) -> IDGrid:
    """An IDGrid from box quads (n, 4, 2) in original page pixels."""
    box = (
        float(quads[..., 0].min()),
        float(quads[..., 1].min()),
        float(quads[..., 0].max()),
        float(quads[..., 1].max()),
    )
    cells = to_upright(quads, rotation, shape)
    cells = order_corners(cells)
    cells = cells[np.argsort(cells[:, :, 0].mean(axis=1))].astype(np.float32)
    first, last = cells[0].mean(axis=0), cells[-1].mean(axis=0)
    skew = float(np.degrees(np.arctan2(last[1] - first[1], last[0] - first[0])))
    return IDGrid(cells, rotation, skew, box, score)


def find_id_grid(image: np.ndarray, *, id_length: int | None = None) -> IDGrid | None:
    """The ID grid of a page: the best of :func:`find_grid_candidates`, or None.

    Parameters
    ----------
    image : np.ndarray
        uint8 (H, W) gray page.
    id_length : int or None
        Expected number of digits, if known.

    Returns
    -------
    IDGrid or None
        None when the page has no grid (never raises for that).

    Examples
    --------
    >>> find_id_grid(np.full((400, 300), 255, np.uint8)) is None
    True
    """
    candidates = find_grid_candidates(image, id_length=id_length)
    return candidates[0] if candidates else None
