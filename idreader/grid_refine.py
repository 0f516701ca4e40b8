"""Refine box corners on the full-resolution page from the ruled lines around each box.

The coarse search runs at about 100 dpi, so its corners are good to a pixel or two of
that scale. Here each side of each box is moved to the inner edge of its ruled line,
found in a line profile of the full-resolution page: a low percentile per column (or
row) of the darkness across the box, which is high on a ruled line and low across a
handwritten stroke (a stroke covers only some rows of the box, a line covers all).
A wall worn away over most of a box can still lose to a digit's bar beside it, so each
side's correction must agree with the same side's correction along the row.
"""

from __future__ import annotations

import math
from statistics import median  # np.median costs more on a short profile

import cv2
import numpy as np

#: Fraction of the box side searched on either side of the coarse edge.
SEARCH = 0.2


def _line_edges(
    profile: np.ndarray, near: int, far: int, reach: int
) -> tuple[float | None, float | None]:
    """Inner edges of the lines about ``near`` and ``far`` in a darkness profile.

    The box interior lies between the two. Each edge is None when no line shows there
    (a very faint or missing border).
    """
    background = float(median(profile.tolist()))
    return (
        _profile_edge(profile, background, near, +1, reach),
        _profile_edge(profile, background, far, -1, reach),
    )


def _profile_edge(
    profile: np.ndarray, background: float, expected: int, inward: int, reach: int
) -> float | None:
    """Inner edge of the line nearest ``expected`` in a darkness profile, or None.

    ``background`` is the profile's median (paper); ``inward`` is +1 when the box
    interior lies at higher indices, -1 otherwise. Of the dark peaks within ``reach``,
    the one nearest the coarse edge wins (a stroke along the wall can be darker than a
    faint line), and the edge is at most a line's width inside it.
    """
    lo, hi = max(0, expected - reach), min(len(profile), expected + reach + 1)
    if hi - lo < 3:
        return None
    window = profile[lo:hi]
    dark = background + 12.0  # faint lines are well above this, paper noise is not
    before = np.concatenate([window[:1], window[:-1]])
    after = np.concatenate([window[1:], window[-1:]])
    peaks = lo + np.flatnonzero((window > dark) & (window >= before) & (window >= after))
    if not peaks.size:
        return None  # no line here at all (a very faint or missing border)
    peak = int(peaks[np.argmin(np.abs(peaks - expected))])
    level = background + (float(profile[peak]) - background) / 2
    i, steps = peak, 0
    max_width = max(3, reach // 3)
    while 0 <= i + inward < len(profile) and profile[i + inward] > level and steps < max_width:
        i += inward
        steps += 1
    # The edge lies between the last dark sample and the first light one.
    return i + 0.5 * inward


def _low_percentile(values: np.ndarray, *, axis: int) -> np.ndarray:
    """The 30th percentile along ``axis`` (nearest rank; a partial sort is enough)."""
    k = int(0.3 * (values.shape[axis] - 1))
    return np.take(np.partition(values, k, axis=axis), k, axis=axis)


#: A side's correction that differs from the median correction of that side over the row
#: by more than this fraction of the box is not its line (see :func:`refine_cells`).
AGREE = 0.1


def _frame(quad: np.ndarray) -> tuple[np.ndarray, int, int, int] | None:
    """The affine map from the page into a box-aligned crop with ``pad`` around the box,
    the box's width and height in it, and ``pad``; None for a box too small to refine."""
    tl, tr, br, bl = quad.astype(np.float64)
    width = (math.dist(tr, tl) + math.dist(br, bl)) / 2
    height = (math.dist(bl, tl) + math.dist(br, tr)) / 2
    if min(width, height) < 6:
        return None
    pad = int(round(SEARCH * min(width, height))) + 2
    cw, ch = int(round(width)), int(round(height))
    src = np.float32([tl, tr, bl])
    dst = np.float32([[pad, pad], [pad + cw, pad], [pad, pad + ch]])
    return cv2.getAffineTransform(src, dst), cw, ch, pad


def _side_shifts(gray: np.ndarray, frame: tuple[np.ndarray, int, int, int] | None) -> np.ndarray:
    """How far each side of a box must move to reach its line (left, top, right, bottom).

    ``frame`` is the box's :func:`_frame`. In box-crop pixels, positive to the right and
    down; NaN where no line shows, or for every side when what was found cannot be this
    box's lines.
    """
    shifts = np.full(4, np.nan)
    if frame is None:
        return shifts
    m, cw, ch, pad = frame
    crop = cv2.warpAffine(
        gray,
        m,
        (cw + 2 * pad, ch + 2 * pad),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    dark = 255.0 - crop.astype(np.float32)
    # Middle part of the box only, so the perpendicular lines do not dominate.
    rows = dark[pad + ch // 5 : pad + ch - ch // 5]
    cols = dark[:, pad + cw // 5 : pad + cw - cw // 5]
    # A ruled line is dark in (nearly) every row of the box, a stroke in some: the 30th
    # percentile keeps worn lines with gaps and drops strokes along the wall.
    left, right = _line_edges(_low_percentile(rows, axis=0), pad, pad + cw, pad - 1)
    top, bottom = _line_edges(_low_percentile(cols, axis=1), pad, pad + ch, pad - 1)
    x0 = pad if left is None else left
    x1 = pad + cw if right is None else right
    y0 = pad if top is None else top
    y1 = pad + ch if bottom is None else bottom
    if x1 - x0 < 0.6 * cw or y1 - y0 < 0.6 * ch:
        return shifts  # the profile found something other than this box's lines
    for i, (edge, coarse) in enumerate(
        ((left, pad), (top, pad), (right, pad + cw), (bottom, pad + ch))
    ):
        if edge is not None:
            shifts[i] = edge - coarse
    return shifts


def _moved(
    quad: np.ndarray, frame: tuple[np.ndarray, int, int, int] | None, shifts: np.ndarray
) -> np.ndarray:
    """``quad`` with its sides moved by ``shifts`` (see :func:`_side_shifts`)."""
    if frame is None:
        return quad
    m, cw, ch, pad = frame
    x0, y0 = pad + shifts[0], pad + shifts[1]
    x1, y1 = pad + cw + shifts[2], pad + ch + shifts[3]
    inv = cv2.invertAffineTransform(m)
    pts = np.array([[x0, y0], [x1, y0], [x1, y1], [x0, y1]], np.float64)
    return (pts @ inv[:, :2].T + inv[:, 2]).astype(quad.dtype)


def refine_cells(gray: np.ndarray, quads: np.ndarray) -> np.ndarray:
    """Move each box side to the inner edge of its ruled line at full resolution.

    The boxes of a row are found together, so the coarse corners are off by about the
    same amount all along the row; a side whose correction differs from the median
    correction of that side by more than :data:`AGREE` of its box did not find its
    line (a broken wall, with a digit's bar beside it, such as the top of a 7) and
    takes the median instead, as does a side where no line shows.

    Parameters
    ----------
    gray : np.ndarray
        uint8 (H, W) page; not modified.
    quads : np.ndarray
        float (n, 4, 2) coarse inner corners tl, tr, br, bl in page pixels.

    Returns
    -------
    np.ndarray
        float (n, 4, 2) refined corners; a side without a clear line keeps its coarse
        position. Corners are edge positions with pixel centres at integers, so the
        boundary between pixels 10 and 11 is 10.5.

    Examples
    --------
    >>> page = np.full((60, 60), 255, np.uint8)
    >>> page[10:50, 10] = page[10:50, 49] = page[10, 10:50] = page[49, 10:50] = 0
    >>> q = np.array([[[12.0, 12], [47, 12], [47, 47], [12, 47]]])
    >>> np.round(refine_cells(page, q)[0], 3).tolist()
    [[10.5, 10.5], [48.5, 10.5], [48.5, 48.5], [10.5, 48.5]]
    """
    if not len(quads):
        return quads
    frames = [_frame(q) for q in quads]
    shifts = np.stack([_side_shifts(gray, f) for f in frames])
    found = ~np.isnan(shifts)
    # a side that no box found keeps its coarse position
    typical = np.array(
        [median(shifts[found[:, i], i].tolist()) if found[:, i].any() else 0.0 for i in range(4)]
    )
    sides = np.linalg.norm(quads[:, [1, 3]] - quads[:, [0, 0]], axis=2).min(axis=1)
    agree = np.abs(shifts - typical) <= AGREE * sides[:, None]
    shifts = np.where(found & agree, shifts, typical)
    moved = zip(quads, frames, shifts, strict=True)
    return np.stack([_moved(q, f, s) for q, f, s in moved])
