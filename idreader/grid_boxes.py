"""Box rows on a downscaled page: binarise, estimate skew, extract ruled lines, group boxes.

Everything here works on the small "working" image (about 100 dpi for an A4 page) and
in its deskewed frame; :mod:`idreader.grid` maps the results back to page pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: The page is shrunk by an integer factor until its long side is at most this.
WORK_LONG_SIDE = 1300

#: Rows need at least this many boxes to be reported as a candidate grid.
MIN_ROW = 3


@dataclass(frozen=True)
class Row:
    """A row (or column) of box interiors in the deskewed working frame.

    ``rects`` is float (n, 4) of ``x, y, w, h`` per box, in reading order along the row
    (left to right, or top to bottom when ``vertical``).
    """

    rects: np.ndarray
    vertical: bool


def downscale(gray: np.ndarray) -> tuple[np.ndarray, int]:
    """Shrink by the smallest integer factor that brings the long side to WORK_LONG_SIDE.

    Integer factors keep INTER_AREA fast and the mapping back exact.

    Examples
    --------
    >>> downscale(np.zeros((2339, 1654), np.uint8))[1]
    2
    """
    factor = max(1, math.ceil(max(gray.shape) / WORK_LONG_SIDE))
    if factor == 1:
        return gray, 1
    h, w = gray.shape
    small = cv2.resize(gray, (w // factor, h // factor), interpolation=cv2.INTER_AREA)
    return small, factor


def binarize(small: np.ndarray) -> np.ndarray:
    """Ink mask (uint8 0/255, ink = 255) from a local mean threshold.

    The offset follows the measured noise so that clean scans keep faint grey lines and
    noisy scans do not turn into salt.
    """
    blur = cv2.GaussianBlur(small, (3, 3), 0)
    # Noise estimate from the upper half of a local residual histogram (robust to ink).
    resid = cv2.absdiff(small, cv2.medianBlur(small, 3))
    sigma = 1.4826 * float(np.median(resid[::2, ::2]))
    offset = max(7.0, 2.5 * sigma)
    block = max(15, (max(small.shape) // 40) | 1)
    return cv2.adaptiveThreshold(
        blur, 255, cv2.ADAPTIVE_THRESH_MEAN_C, cv2.THRESH_BINARY_INV, block, offset
    )


def _rect_angle(points: np.ndarray) -> float:
    """Angle of a min-area rectangle, folded into [-45, 45) degrees."""
    (_, _), (_, _), angle = cv2.minAreaRect(points)
    return (angle + 45.0) % 90.0 - 45.0


def estimate_skew(ink: np.ndarray) -> float:
    """Dominant angle (degrees, folded into [-45, 45)) of box-like shapes on the page.

    Box interiors (holes in the ink) and large ink components that are nearly
    rectangles vote with their min-area rectangles, weighted by squared size (grids
    and tables outweigh stray shapes); the weighted median wins.
    """
    min_side = max(8, max(ink.shape) // 100)
    contours, hierarchy = cv2.findContours(ink, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return 0.0
    angles: list[float] = []
    weights: list[float] = []
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True):
        x, y, w, h = cv2.boundingRect(contour)
        if max(w, h) < min_side * (1 if parent >= 0 else 4):
            continue
        rect = cv2.minAreaRect(contour)
        rw, rh = rect[1]
        # Only rectangles vote: ragged shapes such as words give a wrong angle.
        if cv2.contourArea(contour) < 0.85 * rw * rh:
            continue
        angles.append((rect[2] + 45.0) % 90.0 - 45.0)
        weights.append(float(rw + rh) ** 2)
    if not angles:
        return 0.0
    order = np.argsort(angles)
    cum = np.cumsum(np.asarray(weights)[order])
    return float(np.asarray(angles)[order][np.searchsorted(cum, cum[-1] / 2)])


def rotate_matrix(shape: tuple[int, int], angle: float) -> tuple[np.ndarray, tuple[int, int]]:
    """Affine matrix (2, 3) rotating by ``angle`` degrees about the centre, canvas grown."""
    h, w = shape
    m = cv2.getRotationMatrix2D((w / 2.0, h / 2.0), angle, 1.0)
    cos, sin = abs(m[0, 0]), abs(m[0, 1])
    nw, nh = int(math.ceil(h * sin + w * cos)), int(math.ceil(h * cos + w * sin))
    m[0, 2] += nw / 2.0 - w / 2.0
    m[1, 2] += nh / 2.0 - h / 2.0
    return m, (nh, nw)


def line_mask(ink: np.ndarray) -> np.ndarray:
    """Long horizontal and vertical strokes of a deskewed ink mask, small breaks bridged."""
    k = max(8, max(ink.shape) // 100)
    bridge = max(3, k // 2)
    horiz = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((1, k), np.uint8))
    horiz = cv2.morphologyEx(horiz, cv2.MORPH_CLOSE, np.ones((1, bridge), np.uint8))
    vert = cv2.morphologyEx(ink, cv2.MORPH_OPEN, np.ones((k, 1), np.uint8))
    vert = cv2.morphologyEx(vert, cv2.MORPH_CLOSE, np.ones((bridge, 1), np.uint8))
    return cv2.bitwise_or(horiz, vert)


def box_interiors(lines: np.ndarray) -> np.ndarray:
    """Rectangular holes of a line mask: float (m, 4) ``x, y, w, h`` (inner box edges)."""
    min_side = max(8, max(lines.shape) // 100)
    contours, hierarchy = cv2.findContours(lines, cv2.RETR_CCOMP, cv2.CHAIN_APPROX_SIMPLE)
    if hierarchy is None:
        return np.zeros((0, 4), np.float64)
    rects = []
    max_side = max(lines.shape) // 4
    for contour, (_, _, _, parent) in zip(contours, hierarchy[0], strict=True):
        if parent < 0:
            continue
        x, y, w, h = cv2.boundingRect(contour)
        if min(w, h) < min_side or max(w, h) > max_side or not 0.25 <= w / h <= 4.0:
            continue
        if cv2.contourArea(contour) < 0.7 * w * h:
            continue
        rects.append((x, y, w, h))
    return np.asarray(rects, np.float64).reshape(-1, 4)


def _chain(rects: np.ndarray) -> list[np.ndarray]:
    """Group box rects into left-to-right rows of similar, aligned, evenly spaced boxes."""
    if len(rects) == 0:
        return []
    order = np.argsort(rects[:, 0])
    rects = rects[order]
    x, y, w, h = rects.T
    cy = y + h / 2
    nxt = np.full(len(rects), -1)
    has_prev = np.zeros(len(rects), bool)
    for i in range(len(rects)):
        gap = x - (x[i] + w[i])
        ok = (
            (gap > -0.2 * h[i])
            & (gap < 1.2 * h[i])
            & (np.abs(cy - cy[i]) < 0.3 * h[i])
            & (np.abs(h - h[i]) < 0.2 * h[i])
            & (np.abs(w - w[i]) < 0.35 * np.maximum(w, w[i]))
            & ~has_prev
        )
        ok[: i + 1] = False
        if ok.any():
            j = int(np.flatnonzero(ok)[np.argmin(gap[ok])])
            nxt[i] = j
            has_prev[j] = True
    rows = []
    for start in np.flatnonzero(~has_prev):
        members = [start]
        while nxt[members[-1]] >= 0:
            members.append(nxt[members[-1]])
        if len(members) >= MIN_ROW:
            rows.append(_regular_run(rects[members]))
    return [r for r in rows if len(r) >= MIN_ROW]


def _regular_run(rects: np.ndarray) -> np.ndarray:
    """The longest run of a chain whose gaps agree (a row of boxes is evenly spaced)."""
    gaps = rects[1:, 0] - (rects[:-1, 0] + rects[:-1, 2])
    tol = 0.15 * float(np.median(rects[:, 3])) + 1.0
    best_start, best_end, start = 0, 2, 0
    for i in range(1, len(gaps)):
        if abs(gaps[i] - gaps[i - 1]) > tol:
            start = i
        if i + 2 - start > best_end - best_start:
            best_start, best_end = start, i + 2
    return rects[best_start:best_end]


def find_rows(rects: np.ndarray) -> list[Row]:
    """Horizontal rows and vertical columns of boxes (columns mean a page turned by 90)."""
    rows = [Row(r, vertical=False) for r in _chain(rects)]
    swapped = rects[:, [1, 0, 3, 2]]
    rows += [Row(r[:, [1, 0, 3, 2]], vertical=True) for r in _chain(swapped)]
    return rows
