"""Handwriting for :mod:`idreader.synth`: digits written into boxes and pen strokes.

Ink is multiplied onto the paper (``page *= 1 - coverage * (1 - ink_gray / 255)``), so
gray pencil over a ruled line stays darker than either.
"""

from __future__ import annotations

import math

import cv2
import numpy as np

from .synth_draw import Canvas


def draw_digit(
    canvas: Canvas,
    digit: np.ndarray,
    cell: np.ndarray,
    *,
    rng: np.random.Generator,
    ink_gray: int,
    stroke_scale: float,
    jitter: float,
    cross_border: float,
    cross_push: tuple[float, float],
    cross_sides: str = "any",
) -> None:
    """Write a 28x28 MNIST image (white on black) as dark ink into a box.

    ``cell`` is the box's inner corners (4, 2) in mm. The digit is scaled so that its
    ink is 60-80 % of the box height, placed at the centre with random ``jitter``
    (fraction of the box) and, with probability ``cross_border``, pushed toward a wall by
    ``cross_push`` (a range, fraction of the box): any of the four, or only one of
    the two side walls (``cross_sides="sideways"``, into the next box) or of the top
    and bottom walls (``"out_of_row"``).
    """
    rows = np.flatnonzero((digit > 25).any(axis=1))
    cols = np.flatnonzero((digit > 25).any(axis=0))
    if rows.size == 0:
        return
    (x0, y0), (x1, y1) = canvas.px(*cell[0]), canvas.px(*cell[2])
    side_w, side_h = x1 - x0, y1 - y0
    ink_h, ink_w = rows[-1] - rows[0] + 1, cols[-1] - cols[0] + 1
    scale = rng.uniform(0.6, 0.8) * side_h / ink_h * (1 + rng.uniform(-jitter, jitter))
    scale = min(scale, 0.85 * side_w / ink_w)
    half_w, half_h = ink_w * scale / 2, ink_h * scale / 2
    # keep the ink inside the box unless the digit is meant to cross the border
    dx = np.clip(rng.uniform(-jitter, jitter) * side_w, half_w - side_w / 2, side_w / 2 - half_w)
    dy = np.clip(rng.uniform(-jitter, jitter) * side_h, half_h - side_h / 2, side_h / 2 - half_h)
    if rng.random() < cross_border:
        # one draw whatever the sides, so that they change nothing else on the page
        direction = int(rng.integers(4))
        if cross_sides != "any":
            direction = direction % 2 + (2 if cross_sides == "out_of_row" else 0)
        push = rng.uniform(*cross_push)
        dx += (-1, 1, 0, 0)[direction] * push * side_w
        dy += (0, 0, -1, 1)[direction] * push * side_h
    cx, cy = (x0 + x1) / 2 + dx, (y0 + y1) / 2 + dy
    src_cx, src_cy = (cols[0] + cols[-1]) / 2, (rows[0] + rows[-1]) / 2
    # warp into a patch just around the scaled ink (plus room for thicker strokes)
    pad = 2 + max(0.0, stroke_scale - 1.0) * 2.2 * scale
    px0 = math.floor(cx - scale * (src_cx - cols[0]) - pad)
    py0 = math.floor(cy - scale * (src_cy - rows[0]) - pad)
    size = (math.ceil(scale * ink_w + 2 * pad) + 2, math.ceil(scale * ink_h + 2 * pad) + 2)
    matrix = np.array(
        [[scale, 0, cx - px0 - scale * src_cx], [0, scale, cy - py0 - scale * src_cy]],
        np.float32,
    )
    ink = cv2.warpAffine(digit, matrix, size, flags=cv2.INTER_CUBIC)
    if stroke_scale != 1.0:
        ink = _restroke(ink, stroke_scale, stroke_px=2.2 * scale)
    _multiply_ink(canvas.image, ink, px0, py0, ink_gray)


def _restroke(ink: np.ndarray, stroke_scale: float, *, stroke_px: float) -> np.ndarray:
    """Thicken (>1) or thin (<1) strokes about ``stroke_px`` pixels wide."""
    radius = round(abs(stroke_scale - 1.0) * stroke_px / 2)
    if radius == 0:
        return ink
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))
    op = cv2.dilate if stroke_scale > 1 else cv2.erode
    return op(ink, kernel)


def _multiply_ink(page: np.ndarray, ink: np.ndarray, x: int, y: int, ink_gray: int) -> None:
    """page *= 1 - coverage * (1 - ink_gray / 255) on the overlap of ``ink`` at (x, y)."""
    h, w = page.shape
    sx, sy = max(0, -x), max(0, -y)
    ex, ey = min(ink.shape[1], w - x), min(ink.shape[0], h - y)
    if ex <= sx or ey <= sy:
        return
    region = page[y + sy : y + ey, x + sx : x + ex]
    cover = ink[sy:ey, sx:ex].astype(np.float32) / 255.0
    region[:] = region * (1.0 - cover * (1.0 - ink_gray / 255.0)) + 0.5


def draw_stroke(canvas: Canvas, points_mm: np.ndarray, width_mm: float, gray: int) -> None:
    """A pen stroke through ``points_mm`` (k, 2), anti-aliased."""
    pts = np.array([canvas.px(x, y) for x, y in points_mm]) * 16
    thickness = max(1, round(width_mm * canvas.ppm))
    cv2.polylines(
        canvas.image, [pts.round().astype(np.int32)], False, gray, thickness, cv2.LINE_AA, 4
    )
