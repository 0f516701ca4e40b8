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
    segments: list[tuple[float, int, int, float]] = []
    lines = np.zeros_like(ink)
    for length in ((3 * k) // 2, 4 * k):
        opened = cv2.morphologyEx(bridged, cv2.MORPH_OPEN, np.ones((1, length), np.uint8))
        found, kept = _straight_segments(opened, k)
        segments += found
        lines |= kept
    rules = [_rule(group) for group in _join_collinear(segments, 2 * k, max(2.0, 0.15 * k))]
    rules.sort(key=lambda r: r.y)
    return rules, lines


Segment = tuple[float, int, int, float, float]  # centre row, x0, x1, thickness, slope


def _straight_segments(mask: np.ndarray, k: int) -> tuple[list[Segment], np.ndarray]:
    """Thin, straight components of a horizontal-run mask, and the mask of them.

    Straight means either a small spread about the least-squares line (from the
    outline's second moments: about a third of a ruled line's thickness; text bars are
    thicker, chains of handwritten strokes joined through box walls wobble), or a thin
    core of rows that run nearly the whole length (a line with a digit attached).
    """
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    segments = []
    kept = np.zeros_like(mask)
    for contour in contours:
        m = cv2.moments(contour)
        x0, y0, width, height = cv2.boundingRect(contour)
        counts = np.count_nonzero(mask[y0 : y0 + height, x0 : x0 + width], axis=1)
        core = np.flatnonzero(counts >= 0.8 * width)
        thickness = counts.sum() / width
        # a one-pixel line has a flat outline: no area, no spread
        area = m["m00"]
        spread = (
            np.sqrt(max(m["mu02"] - m["mu11"] ** 2 / max(m["mu20"], 1e-9), 0.0) / area)
            if area > 0
            else 0.0
        )
        if thickness <= 0.7 * k and spread <= 0.45 * thickness + 0.5:
            # the line is the rows that run (nearly) its full length; a stroke attached
            # to it adds shorter rows that would pull a centroid off the line
            rows = np.flatnonzero(counts >= 0.5 * counts.max())
            slope = m["mu11"] / max(m["mu20"], 1e-9)
        elif 0 < len(core) <= 0.5 * k and np.ptp(core) < len(core):
            rows, slope = core, 0.0
        else:
            continue
        centre = y0 + float(np.average(rows, weights=counts[rows]))
        segments.append((centre, x0, x0 + width, float(len(rows)), slope))
        cv2.drawContours(kept, [contour], -1, 255, thickness=cv2.FILLED)
    return segments, kept


def _join_collinear(segments: list[Segment], max_gap: int, tol: float) -> list[list[Segment]]:
    """Chains of segments, left to right, each within ``tol`` rows of the previous one
    and at most ``max_gap`` after its end (the dashes of boxes with gaps, or of a worn
    line; a line under slight perspective drifts slowly and still chains)."""
    chains: list[list[Segment]] = []
    ends: list[int] = []  # right end of each chain so far
    for seg in sorted(segments, key=lambda s: s[1]):
        best, best_dy = -1, np.inf
        for c, chain in enumerate(chains):
            end = ends[c]
            if seg[1] - end > max_gap:
                continue
            last = chain[-1]
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
            chains.append([seg])
            ends.append(seg[2])
        else:
            chains[best].append(seg)
            ends[best] = max(ends[best], seg[2])
    return chains


def _rule(group: list[Segment]) -> Rule:
    lengths = np.array([s[2] - s[1] for s in group], np.float64)
    weights = lengths / lengths.sum()
    rows = np.array([s[0] for s in group])
    mids = np.array([(s[1] + s[2]) / 2 for s in group])
    x0, x1 = min(s[1] for s in group), max(s[2] for s in group)
    if np.ptp(mids) > 0.5 * (x1 - x0):  # dashes spread along the rule: fit through them
        slope = float(np.polyfit(mids, rows, 1, w=np.sqrt(lengths))[0])
    else:
        slope = float(weights @ np.array([s[4] for s in group]))
    y = float(weights @ rows) + slope * ((x0 + x1) / 2 - float(weights @ mids))
    thickness = float(weights @ np.array([s[3] for s in group]))
    return Rule(y, x0, x1, thickness, slope, abs(slope) * (x1 - x0))
