"""Box rows on a downscaled page: binarise, estimate skew, group box interiors into rows.

Everything here works on the small "working" image (about 100 dpi for an A4 page) and
in its deskewed frame; :mod:`idreader.grid` maps the results back to page pixels.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from .grid_bands import find_box_rows

#: The page is shrunk by an integer factor until its long side is at most this.
WORK_LONG_SIDE = 1300
#: ceil(2 v / 5) for every uint8 v: ``depth >= _TWO_FIFTHS[peak]`` is ``5 depth >= 2 peak``.
_TWO_FIFTHS = ((2 * np.arange(256) + 4) // 5).astype(np.uint8)


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
    h, w = (side // factor for side in gray.shape)
    # Cropped to a whole number of blocks, INTER_AREA takes its fast path for integer
    # factors (a block mean), tens of times faster than on the uncropped page.
    crop = gray[: h * factor, : w * factor]
    return cv2.resize(crop, (w, h), interpolation=cv2.INTER_AREA), factor


def binarize(small: np.ndarray) -> np.ndarray:
    """Ink mask (uint8 0/255, ink = 255): pixels clearly darker than the paper around them.

    The paper level comes from a grey closing (a local maximum over 9x9 pixels), so a
    faint grey rule next to dark handwriting still stands out, unlike with a local mean.
    The threshold follows the measured noise (noisy scans are smoothed first), and a
    pixel must be at least 40 % as dark as the darkest one beside it, so the soft rim
    of a dark stroke does not fatten it into its neighbours (a digit into a wall).
    """
    resid = cv2.absdiff(small, cv2.medianBlur(small, 3))
    sigma = 1.4826 * _median_u8(resid[::2, ::2])
    small = cv2.GaussianBlur(small, (3, 3), 0)
    sigma /= 2.0  # a 3x3 Gaussian halves white noise
    depth = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, np.ones((9, 9), np.uint8))
    peak = cv2.dilate(depth, np.ones((3, 3), np.uint8))
    # OpenCV's element-wise operations, several times faster than numpy's on uint8
    _, deep = cv2.threshold(depth, max(12.0, 4.0 * sigma), 255, cv2.THRESH_BINARY)
    dark_enough = cv2.compare(depth, cv2.LUT(peak, _TWO_FIFTHS), cv2.CMP_GE)
    return cv2.bitwise_and(deep, dark_enough)


def _median_u8(values: np.ndarray) -> float:
    """``np.median`` of a uint8 array, from its histogram (much faster)."""
    hist = cv2.calcHist([np.ascontiguousarray(values)], [0], None, [256], [0, 256])
    cum = np.cumsum(hist.ravel())
    n = int(cum[-1])
    # the middle value, or the mean of the two middle values when n is even
    low, high = np.searchsorted(cum, [(n - 1) // 2, n // 2], side="right")
    return (float(low) + float(high)) / 2


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
    # The sizes of all contours at once: a page has hundreds (letters, mostly).
    starts = np.cumsum([0] + [len(c) for c in contours[:-1]])
    points = np.concatenate(contours).reshape(-1, 2)
    extent = np.maximum.reduceat(points, starts) - np.minimum.reduceat(points, starts) + 1
    big = extent.max(axis=1) >= min_side * np.where(hierarchy[0][:, 3] >= 0, 1, 4)
    angles: list[float] = []
    weights: list[float] = []
    for i in np.flatnonzero(big):
        contour = contours[i]
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


def text_direction(flat: np.ndarray) -> str | None:
    """ "h" or "v" when the page's text clearly runs that way, else None.

    Lines of text make the ink's row profile jump between text and spacing; across the
    text the profile is smooth. The ratio of the two profiles' squared steps is about
    17 on an exam cover, so a factor of 3 is a safe call.
    """
    # integer sums are exact and far faster than float ones in OpenCV
    rows = cv2.reduce(flat, 1, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.float64)
    cols = cv2.reduce(flat, 0, cv2.REDUCE_SUM, dtype=cv2.CV_32S).ravel().astype(np.float64)
    across, along = float(np.sum(np.diff(rows) ** 2)), float(np.sum(np.diff(cols) ** 2))
    if across > 3 * along:
        return "h"
    if along > 3 * across:
        return "v"
    return None


def find_rows(flat: np.ndarray) -> list[Row]:
    """Horizontal rows and vertical columns of boxes (columns mean a page turned by 90).

    Only the text direction is searched when the page has enough text to tell it.

    Parameters
    ----------
    flat : np.ndarray
        uint8 (H, W) deskewed ink mask (ink = 255).
    """
    direction = text_direction(flat)
    rows = []
    if direction != "v":
        rows += [Row(r, vertical=False) for r in find_box_rows(flat)]
    if direction != "h":
        # A column of boxes is a row of the transposed page; its rects come back swapped.
        turned = find_box_rows(np.ascontiguousarray(flat.T))
        rows += [Row(r[:, [1, 0, 3, 2]], vertical=True) for r in turned]
    return rows
