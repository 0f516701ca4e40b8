"""Drawing for :mod:`idreader.synth`: exam-cover geometry, ruled lines and printed text.

Everything here draws onto a uint8 gray canvas (paper = 255) with OpenCV and numpy.
Coordinates: ``mm`` is millimetres from the page's top-left corner; a canvas maps them
to pixels as ``px = mm * ppm - origin`` with pixel centres at integers (OpenCV's
convention), so a canvas can be a whole page or a strip cut out of one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

#: Gray level of printed text (toner black, a little lighter than pure black).
TEXT_GRAY = 25

_FONT = cv2.FONT_HERSHEY_SIMPLEX
_FONT_CAP_HEIGHT = 22.0  # pixels at fontScale 1 (Hershey simplex capitals)


@dataclass(frozen=True)
class Canvas:
    """Pixel frame of a drawing on ``image`` (H, W): ``px = mm * ppm - origin``.

    A canvas whose top-left is the page's uses ``origin = (0.5, 0.5)``: the page edge
    is then the outer edge of pixel 0, whose centre is at 0.
    """

    image: np.ndarray
    ppm: float  # pixels per millimetre
    origin: tuple[float, float]

    def px(self, x_mm: float, y_mm: float) -> tuple[float, float]:
        return x_mm * self.ppm - self.origin[0], y_mm * self.ppm - self.origin[1]


@dataclass(frozen=True)
class Geometry:
    """What a layout draws, in page millimetres.

    ``lines`` are (x0, y0, x1, y1) segments (axis-aligned) of the rule width; ``texts``
    are (text, x, y_baseline, height_mm); ``id_cells`` (n, 4, 2) are the inner corners
    tl, tr, br, bl of the ID boxes and ``other_cells`` (m, 4, 2) those of another digit
    grid (the "Version" code); ``grid_box`` is (x0, y0, x1, y1) of the ID boxes and
    ``area`` that of everything drawn around them (table, labels, other grids).
    """

    lines: tuple[tuple[float, float, float, float], ...]
    texts: tuple[tuple[str, float, float, float], ...]
    id_cells: np.ndarray
    grid_box: tuple[float, float, float, float]
    area: tuple[float, float, float, float]
    other_cells: np.ndarray


def layout_geometry(
    kind: str,
    n_boxes: int,
    box: float,
    line: float,
    top_left: tuple[float, float],
    *,
    marks_table: bool,
    page_size: tuple[float, float],
) -> Geometry:
    """Lines, texts and ID box corners of one cover layout (all in mm)."""
    gx, gy = top_left
    lines: list[tuple[float, float, float, float]] = []
    texts: list[tuple[str, float, float, float]] = []
    label_h = 0.42 * box
    gap = 0.3 * box if kind == "gapped" else 0.0
    pitch = box + gap
    right = gx + n_boxes * pitch - gap

    def boxes_row(x0: float, y0: float, n: int, step: float) -> None:
        if step == box:  # joined: shared walls
            lines.extend(_rect(x0, y0, x0 + n * box, y0 + box))
            lines.extend((x0 + k * box, y0, x0 + k * box, y0 + box) for k in range(1, n))
        else:
            for k in range(n):
                lines.extend(_rect(x0 + k * step, y0, x0 + k * step + box, y0 + box))

    if kind == "table":
        label_w = max(38.0, 4.6 * box)
        left = gx - label_w
        name_h = 1.25 * box
        rows = [gy - name_h, gy, gy + box, gy + 2 * box, gy + 2 * box + name_h]
        lines.extend(_rect(left, rows[0], right, rows[-1]))
        lines.extend((left, y, right, y) for y in rows[1:-1])
        lines.append((gx, rows[0], gx, rows[-1]))
        lines.extend((gx + k * box, gy, gx + k * box, gy + box) for k in range(1, n_boxes))
        lines.extend((gx + k * box, rows[2], gx + k * box, rows[3]) for k in (1, 2, 3))
        for text, y0, y1 in (
            ("Name", rows[0], rows[1]),
            ("Student number", rows[1], rows[2]),
            ("Section", rows[2], rows[3]),
            ("Signature", rows[3], rows[4]),
        ):
            texts.append((text, left + 0.2 * box, (y0 + y1 + label_h) / 2, label_h))
    else:
        boxes_row(gx, gy, n_boxes, pitch)
        width = text_width_mm("Student number:", label_h)
        texts.append(("Student number:", gx - width - 0.5 * box, gy + (box + label_h) / 2, label_h))
        if kind == "two_grids":  # keep in step with ``other`` below
            vx, vy = gx, gy + 2.5 * box
            boxes_row(vx, vy, 3, box)
            width = text_width_mm("Version:", label_h)
            texts.append(("Version:", vx - width - 0.5 * box, vy + (box + label_h) / 2, label_h))
        elif kind not in ("joined", "gapped"):
            raise ValueError(f"unknown layout kind {kind!r}")

    xs = [v for seg in lines for v in seg[0::2]] + [t[1] for t in texts]
    ys = [v for seg in lines for v in seg[1::2]] + [t[2] - t[3] for t in texts]
    area = (min(xs), min(ys), max(xs), max(ys))
    if marks_table:
        _marks_table(lines, texts, page_size)
    cells = _inner_cells(gx, gy, n_boxes, pitch, box, line)
    other = (
        _inner_cells(gx, gy + 2.5 * box, 3, box, box, line)
        if kind == "two_grids"
        else np.zeros((0, 4, 2))
    )
    return Geometry(tuple(lines), tuple(texts), cells, (gx, gy, right, gy + box), area, other)


def _inner_cells(x: float, y: float, n: int, pitch: float, box: float, line: float) -> np.ndarray:
    """Inner corners tl, tr, br, bl (n, 4, 2) of a row of ``n`` boxes at (x, y)."""
    x0 = x + pitch * np.arange(n) + line / 2
    x1 = x0 + box - line
    y0 = np.full(n, y + line / 2)
    y1 = y0 + box - line
    return np.stack([np.stack(c, axis=1) for c in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], axis=1)


def _rect(x0: float, y0: float, x1: float, y1: float) -> list[tuple[float, float, float, float]]:
    return [(x0, y0, x1, y0), (x0, y1, x1, y1), (x0, y0, x0, y1), (x1, y0, x1, y1)]


def _marks_table(lines: list, texts: list, page_size: tuple[float, float]) -> None:
    """The 'for examiner use only' marks table near the bottom of a cover."""
    w, h = page_size
    cols, cell_w, rows = 7, 22.0, (h - 62.0, h - 53.0, h - 40.0)
    x0 = (w - cols * cell_w) / 2
    x1 = x0 + cols * cell_w
    lines.extend(_rect(x0, rows[0], x1, rows[-1]))
    lines.append((x0, rows[1], x1, rows[1]))
    lines.extend((x0 + k * cell_w, rows[0], x0 + k * cell_w, rows[-1]) for k in range(1, cols))
    texts.append(("For examiner use only", x0, rows[0] - 3.0, 3.2))
    for k, head in enumerate(["Question", "1", "2", "3", "4", "5", "Total"]):
        texts.append((head, x0 + k * cell_w + 2.0, rows[1] - 2.8, 3.2))


def text_width_mm(text: str, height_mm: float) -> float:
    """Width of ``text`` drawn by :func:`draw_text` at a cap height of ``height_mm``."""
    scale = height_mm / _FONT_CAP_HEIGHT
    (width, _), _ = cv2.getTextSize(text, _FONT, 1.0, 2)
    return width * scale


def draw_text(canvas: Canvas, text: str, x: float, y: float, height: float) -> None:
    """Print ``text`` with its baseline starting at (x, y) mm, capitals ``height`` mm tall."""
    px, py = canvas.px(x, y)
    scale = height * canvas.ppm / _FONT_CAP_HEIGHT
    thickness = max(1, round(height * canvas.ppm / 11))
    cv2.putText(
        canvas.image,
        text,
        (round(px), round(py)),
        _FONT,
        scale,
        TEXT_GRAY,
        thickness,
        cv2.LINE_AA,
    )


def draw_rule(
    canvas: Canvas,
    segment: tuple[float, float, float, float],
    width: float,
    gray: int,
    *,
    broken: float = 0.0,
    rng: np.random.Generator | None = None,
) -> None:
    """Draw an axis-aligned ruled line ``width`` mm wide, optionally with small gaps.

    ``broken`` is the fraction of the length erased, in gaps of 0.4..1.5 mm (a worn
    printer or a thin line the scanner dropped).
    """
    x0, y0, x1, y1 = segment
    horizontal = abs(y1 - y0) < abs(x1 - x0)
    a, b = (min(x0, x1), max(x0, x1)) if horizontal else (min(y0, y1), max(y0, y1))
    pieces = [(a - width / 2, b + width / 2)]
    if broken > 0 and rng is not None:
        pieces = _break(pieces[0], broken, rng)
    half = width / 2
    for s, e in pieces:
        if horizontal:
            fill_rect(canvas, s, y0 - half, e, y0 + half, gray)
        else:
            fill_rect(canvas, x0 - half, s, x0 + half, e, gray)


def _break(
    span: tuple[float, float], fraction: float, rng: np.random.Generator
) -> list[tuple[float, float]]:
    start, end = span
    gaps = rng.uniform(0.4, 1.5, size=max(1, round(fraction * (end - start) / 0.9)))
    gaps *= fraction * (end - start) / gaps.sum()
    starts = np.sort(rng.uniform(start, end, size=gaps.size))
    pieces, pos = [], start
    for gs, gl in zip(starts, gaps, strict=True):
        if gs > pos:
            pieces.append((pos, gs))
        pos = max(pos, gs + gl)
    if pos < end:
        pieces.append((pos, end))
    return pieces


def fill_rect(canvas: Canvas, x0: float, y0: float, x1: float, y1: float, gray: int) -> None:
    """Darken the mm rectangle to ``gray``, anti-aliased by exact pixel coverage."""
    (px0, py0), (px1, py1) = canvas.px(x0, y0), canvas.px(x1, y1)
    h, w = canvas.image.shape
    cx, jx = _coverage(px0, px1, w)
    cy, jy = _coverage(py0, py1, h)
    if cx.size == 0 or cy.size == 0:
        return
    cover = np.outer(cy, cx)
    region = canvas.image[jy : jy + cy.size, jx : jx + cx.size]
    np.minimum(region, (255 - cover * (255 - gray) + 0.5).astype(np.uint8), out=region)


def _coverage(a: float, b: float, size: int) -> tuple[np.ndarray, int]:
    """Fraction of each pixel [j - 0.5, j + 0.5] inside [a, b], and the first index j."""
    first = max(0, math.floor(a + 0.5))
    last = min(size - 1, math.ceil(b - 0.5))
    if last < first:
        return np.zeros(0, np.float32), first
    j = np.arange(first, last + 1, dtype=np.float32)
    cover = np.clip(np.minimum(j + 0.5, b) - np.maximum(j - 0.5, a), 0.0, 1.0)
    return cover, first
