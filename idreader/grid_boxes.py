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
    # A box filter sampled at every factor-th pixel is exactly INTER_AREA, several times
    # faster for integer factors.
    mean = cv2.blur(gray, (factor, factor))
    start = factor // 2
    return np.ascontiguousarray(
        mean[start::factor, start::factor][: h // factor, : w // factor]
    ), factor


def binarize(small: np.ndarray) -> np.ndarray:
    """Ink mask (uint8 0/255, ink = 255): pixels clearly darker than the paper around them.

    The paper level comes from a grey closing (a local maximum over 9x9 pixels), so a
    faint grey rule next to dark handwriting still stands out, unlike with a local mean.
    The threshold follows the measured noise (noisy scans are smoothed first), and a
    pixel must be at least 40 % as dark as the darkest one beside it, so the soft rim
    of a dark stroke does not fatten it into its neighbours (a digit into a wall).
    """
    resid = cv2.absdiff(small, cv2.medianBlur(small, 3))
    sigma = 1.4826 * float(np.median(resid[::2, ::2]))
    small = cv2.GaussianBlur(small, (3, 3), 0)
    sigma /= 2.0  # a 3x3 Gaussian halves white noise
    depth = cv2.morphologyEx(small, cv2.MORPH_BLACKHAT, np.ones((9, 9), np.uint8))
    peak = cv2.dilate(depth, np.ones((3, 3), np.uint8))
    ink = (depth > max(12.0, 4.0 * sigma)) & (
        depth.astype(np.uint16) * 5 >= peak.astype(np.uint16) * 2
    )
    return np.where(ink, np.uint8(255), np.uint8(0))


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


def text_direction(flat: np.ndarray) -> str | None:
    """ "h" or "v" when the page's text clearly runs that way, else None.

    Lines of text make the ink's row profile jump between text and spacing; across the
    text the profile is smooth. The ratio of the two profiles' squared steps is about
    17 on an exam cover, so a factor of 3 is a safe call.
    """
    rows = flat.sum(axis=1, dtype=np.float64)
    cols = flat.sum(axis=0, dtype=np.float64)
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
