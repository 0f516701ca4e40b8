"""Horizontal ruled lines of a deskewed ink mask (the top and bottom of rows of boxes).

Works on a deskewed ink mask (uint8, ink = 255) at the working scale of
:mod:`idreader.grid_boxes`. Long horizontal runs (gaps bridged) are split into thin,
straight segments, and collinear segments are chained into rules: a solid line, the
dashes of a worn one, or the tops of boxes with gaps between them.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Rule:
    """A horizontal ruled line (possibly dashed): mean centre row, extent, mean thickness,
    slope (rows per column: residual skew and perspective) and ``drift``, how far its
    centre row moves over its length."""

    y: float
    x0: int
    x1: int
    thickness: float
    slope: float = 0.0
    drift: float = 0.0

    def at(self, x: float) -> float:
        """Centre row at column ``x``."""
        return self.y + self.slope * (x - (self.x0 + self.x1) / 2)


Segment = tuple[float, int, int, float, float]  # centre row, x0, x1, thickness, slope


def scale(ink: np.ndarray) -> int:
    """The morphology unit in pixels: about 1/100 of the page's long side (~2.5 mm on A4)."""
    return max(8, max(ink.shape) // 100)


def horizontal_rules(ink: np.ndarray) -> tuple[list[Rule], np.ndarray]:
    """Horizontal rules of a deskewed ink mask, and the mask of their pixels.

    Returns
    -------
    rules : list of Rule
        Sorted by ``y``; collinear segments with small gaps between them are one rule.
    lines : np.ndarray
        uint8 (H, W) mask of the line pixels (gaps bridged), used to test coverage.
    """
    k = scale(ink)
    bridged = cv2.morphologyEx(ink, cv2.MORPH_CLOSE, np.ones((1, max(3, (3 * k) // 5)), np.uint8))
    # Runs of 1.5 units find the top of a single box; runs of 4 units recover a long rule
    # that handwriting touching it has merged into a wobbly blob at the shorter length.
    # Each is an opening (an erosion, then a dilation); the long erosion goes on from
    # the short one rather than starting again.
    short, long = (3 * k) // 2, 4 * k
    eroded = cv2.erode(bridged, np.ones((1, short), np.uint8))
    longer = cv2.erode(eroded, np.ones((1, long - short + 1), np.uint8))
    segments: list[Segment] = []
    lines = np.zeros_like(ink)
    for thin, length in ((eroded, short), (longer, long)):
        found, kept = _straight_segments(cv2.dilate(thin, np.ones((1, length), np.uint8)), k)
        segments += found
        # one call per pass: the long runs lie inside the short ones, and outlines that
        # overlap cancel out when filled in one call
        cv2.drawContours(lines, kept, -1, 255, thickness=cv2.FILLED)
    rules = [_rule(group) for group in _join_collinear(segments, 2 * k, max(2.0, 0.15 * k))]
    rules.sort(key=lambda r: r.y)
    return rules, lines


def _straight_segments(mask: np.ndarray, k: int) -> tuple[list[Segment], list[np.ndarray]]:
    """Thin, straight components of a horizontal-run mask, and their outlines.

    Straight means either a small spread about the least-squares line (from the
    outline's second moments: about a third of a ruled line's thickness; text bars are
    thicker, chains of handwritten strokes joined through box walls wobble), or a thin
    core of rows that run nearly the whole length (a line with a digit attached).
    All components are measured at once (a page has a hundred or more, mostly text).
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    if not contours:
        return [], []
    boxes = np.array([cv2.boundingRect(c) for c in contours])
    m00, mu02, mu11, mu20 = np.array(
        [[m["m00"], m["mu02"], m["mu11"], m["mu20"]] for m in map(cv2.moments, contours)]
    ).T
    counts, owner, local, starts = _row_counts(mask, boxes)
    width = boxes[:, 2].astype(np.float64)
    thickness = np.add.reduceat(counts, starts) / width
    # a one-pixel line has a flat outline: no area, no spread
    spread = np.sqrt(
        np.maximum(mu02 - mu11**2 / np.maximum(mu20, 1e-9), 0.0) / np.where(m00 > 0, m00, np.inf)
    )
    line = (thickness <= 0.7 * k) & (spread <= 0.45 * thickness + 0.5)
    core = counts >= 0.8 * width[owner]
    n_core = np.add.reduceat(core, starts)
    first = np.minimum.reduceat(np.where(core, local, len(local)), starts)
    last = np.maximum.reduceat(np.where(core, local, -1), starts)
    cored = ~line & (n_core > 0) & (n_core <= 0.5 * k) & (last - first < n_core)
    # The line is the rows that run (nearly) its full length; a stroke attached to it
    # adds shorter rows that would pull a centroid off the line. With a digit attached
    # the line is its core.
    peak = np.maximum.reduceat(counts, starts)
    rows = np.where(line[owner], counts >= 0.5 * peak[owner], core)
    weight = np.where(rows, counts, 0)
    total = np.add.reduceat(weight, starts)
    keep = np.flatnonzero(line | cored)
    centre = boxes[keep, 1] + np.add.reduceat(weight * local, starts)[keep] / total[keep]
    n_rows = np.add.reduceat(rows, starts)[keep]
    slope = np.where(line, mu11 / np.maximum(mu20, 1e-9), 0.0)[keep]
    x0, x1 = boxes[keep, 0], boxes[keep, 0] + boxes[keep, 2]
    segments = list(
        zip(centre.tolist(), x0.tolist(), x1.tolist(), n_rows.astype(float).tolist(),
            slope.tolist(), strict=True)
    )  # fmt: skip
    return segments, [contours[i] for i in keep]


def _row_counts(
    mask: np.ndarray, boxes: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Ink pixels in every row of every box, from one integral image.

    Parameters
    ----------
    mask : np.ndarray
        uint8 (H, W), 0 or 255.
    boxes : np.ndarray
        int (n, 4) ``x, y, w, h``, each at least one pixel tall.

    Returns
    -------
    counts, owner, local : np.ndarray
        One entry per box row, box after box: the count, the box's index and the row
        within the box.
    starts : np.ndarray
        Index of each box's first row in those arrays (for ``np.ufunc.reduceat``).
    """
    integral = cv2.integral(mask, sdepth=cv2.CV_32S)
    heights = boxes[:, 3]
    starts = np.concatenate([[0], np.cumsum(heights)[:-1]])
    owner = np.repeat(np.arange(len(boxes)), heights)
    local = np.arange(int(heights.sum())) - starts[owner]
    y = boxes[owner, 1] + local
    a = boxes[owner, 0]
    b = a + boxes[owner, 2]
    counts = (integral[y + 1, b] - integral[y, b] - integral[y + 1, a] + integral[y, a]) // 255
    return counts, owner, local, starts


def _join_collinear(segments: list[Segment], max_gap: int, tol: float) -> list[list[Segment]]:
    """Chains of segments, left to right, each within ``tol`` rows of the previous one
    and at most ``max_gap`` after its end (the dashes of boxes with gaps, or of a worn
    line; a line under slight perspective drifts slowly and still chains)."""
    chains: list[list[Segment]] = []
    ends: list[int] = []  # right end of each chain so far
    reachable: list[int] = []  # the chains that a segment may still extend, in order
    for seg in sorted(segments, key=lambda s: s[1]):
        # segments come left to right: a chain out of reach stays out of reach
        reachable = [c for c in reachable if seg[1] - ends[c] <= max_gap]
        best, best_dy = -1, np.inf
        for c in reachable:
            end = ends[c]
            last = chains[c][-1]
            # A piece that extends the chain must lie level with the last piece or where
            # its slope (perspective) points; one under the chain's span (a stroke
            # along the line, or the same line found twice) must sit on it.
            if seg[2] > end + tol:
                run = (seg[1] + seg[2] - last[1] - last[2]) / 2
                sloped = last[0] + min(0.05, max(-0.05, last[4])) * run
                dy = min(abs(sloped - seg[0]), abs(last[0] - seg[0]))
                reach = tol
            else:
                dy, reach = abs(last[0] - seg[0]), tol / 2
            if dy <= reach and dy < best_dy:
                best, best_dy = c, dy
        if best < 0:
            reachable.append(len(chains))
            chains.append([seg])
            ends.append(seg[2])
        else:
            chains[best].append(seg)
            ends[best] = max(ends[best], seg[2])
    return chains


def _rule(group: list[Segment]) -> Rule:
    """The rule through a chain of segments, each weighted by its length.

    Plain Python arithmetic: a chain holds a few segments, too few for numpy to pay off.
    """
    if len(group) == 1:  # most rules: one straight piece
        y, x0, x1, thickness, slope = group[0]
        return Rule(y, x0, x1, thickness, slope, abs(slope) * (x1 - x0))
    lengths = [float(s[2] - s[1]) for s in group]
    total = sum(lengths)

    def mean(values: list[float]) -> float:
        return sum(n * v for n, v in zip(lengths, values, strict=True)) / total

    rows = [s[0] for s in group]
    mids = [(s[1] + s[2]) / 2 for s in group]
    x0, x1 = min(s[1] for s in group), max(s[2] for s in group)
    mid = mean(mids)
    if max(mids) - min(mids) > 0.5 * (x1 - x0):
        # dashes spread along the rule: weighted least-squares line through them
        row = mean(rows)
        slope = mean([(m - mid) * (r - row) for m, r in zip(mids, rows, strict=True)]) / mean(
            [(m - mid) ** 2 for m in mids]
        )
    else:
        slope = mean([s[4] for s in group])
    y = mean(rows) + slope * ((x0 + x1) / 2 - mid)
    return Rule(y, x0, x1, mean([s[3] for s in group]), slope, abs(slope) * (x1 - x0))
