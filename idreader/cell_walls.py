"""Erase the ruled walls of one box crop, and what is left of them.

A box crop (:func:`idreader.cells.box_crop`) has the box's four ruled lines in its
margin. :func:`remove_border_lines` erases each line's own pixels, keeping strokes that
cross it; :func:`wall_remnants` picks out the thin straight pieces of a worn, broken or
tilted wall that line removal could not find. Both work on boolean ink masks.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import cv2
import numpy as np

#: Tilts (rows per column) tried for a ruled line, least tilted first: a box's quad a
#: few per cent off its true corners tilts the walls in the crop by up to about 0.12.
TILTS = np.array([0.0, -0.04, 0.04, -0.08, 0.08, -0.12, 0.12])


@dataclass(frozen=True)
class Unruled:
    """A box crop's ink with its ruled walls erased (:func:`remove_border_lines`).

    Attributes
    ----------
    mask : np.ndarray
        bool (h, w): the ink left.
    crossings : np.ndarray
        bool (h, w): line pixels kept because a stroke crosses the line there.
    slants : np.ndarray
        bool (h, w): line pixels erased where a stroke slants through the top or the
        bottom wall; they join the stroke's two sides but are not ink.
    near_box : np.ndarray
        bool (h, w): where the digit may lie (the box with a small tolerance, and up to
        a wall found further out than the box edge).
    erased : np.ndarray
        int8 (h, w): the wall whose line a pixel was erased with (1 bottom, 2 top,
        3 right, 4 left; 0 where nothing was erased).
    found : np.ndarray
        bool (4,): which walls were found and erased at the box edge, no further out
        than a quarter of the box (bottom, top, right, left; a line further out is the
        wall of the next box, and this one's was not found).
    """

    mask: np.ndarray
    crossings: np.ndarray
    slants: np.ndarray
    near_box: np.ndarray
    erased: np.ndarray
    found: np.ndarray


def remove_border_lines(mask: np.ndarray, pad: int) -> Unruled:
    """Erase the box's four ruled lines, and only the lines' own pixels.

    Each wall is handled by :func:`_remove_line` as the bottom wall of a flipped or
    transposed view; the horizontal walls go first, so that where they meet a vertical
    wall they are gone and do not look like strokes crossing it. A stroke across the
    top or bottom wall can slant through it so that no column of the wall has the
    stroke on both sides; where it does, the wall's pixels are kept aside
    (``slants``) to join the two sides again. Not across the side walls: beyond them
    lie the neighbour boxes, whose digits must not be joined to this one's.

    Examples
    --------
    >>> ink = np.zeros((40, 40), bool); ink[9:11, 5:35] = True  # a ruled top wall
    >>> ink[4:20, 19:21] = True  # a stroke across it
    >>> out = remove_border_lines(ink, 10)
    >>> bool(out.mask[9:11, 5:15].any()), bool(out.crossings[9:11, 19:21].all())
    (False, True)
    """
    h, w = mask.shape
    # two rows and columns of paper around the crop, so that reads past an edge are 0
    out = np.zeros((h + 4, w + 4), bool)
    out[2:-2, 2:-2] = mask
    crossings = np.zeros_like(out)
    slants = np.zeros_like(out)
    erased = np.zeros(out.shape, np.int8)
    near_box = np.zeros_like(mask)
    edge = max(2, pad // 4)
    near_box[pad - edge : h - pad + edge, pad - edge : w - pad + edge] = True
    walls = (
        (lambda a: a[2:, 2:-2], lambda a: a),
        (lambda a: a[:-2, 2:-2][::-1], lambda a: a[::-1]),
        (lambda a: a[2:-2, 2:].T, lambda a: a.T),
        (lambda a: a[2:-2, :-2].T[::-1], lambda a: a.T[::-1]),
    )
    found = np.zeros(len(walls), bool)
    pen = None  # the thinnest line so far
    for i, (padded, plain) in enumerate(walls):
        slanting = padded(slants) if i < 2 else None
        before = padded(out).copy()
        line = _remove_line(padded(out), padded(crossings), slanting, pad, pen)
        if line is not None:
            padded(erased)[before & ~padded(out)] = i + 1
            outer, thickness = line
            pen = thickness if pen is None else min(pen, thickness)
            near = plain(near_box)
            near[pad:outer, pad - edge : near.shape[1] - pad + edge] = True
            found[i] = outer - (near.shape[0] - pad) <= 0.25 * (min(h, w) - 2 * pad)
    return Unruled(
        out[2:-2, 2:-2],
        (crossings & out)[2:-2, 2:-2],
        slants[2:-2, 2:-2],
        near_box,
        erased[2:-2, 2:-2],
        found,
    )


def _remove_line(
    mask: np.ndarray,
    crossings: np.ndarray,
    slants: np.ndarray | None,
    pad: int,
    pen: int | None = None,
) -> tuple[int, int] | None:
    """Erase the ruled line along the bottom wall of ``mask`` (in place).

    ``mask`` is the crop with two rows of paper added below. The line is looked for in
    the margin and a pixel or two into the box: the densest rows there (ink across at
    least half of the box width, so a worn or faint line still counts), nearest the box
    edge, unless a denser line lies just beyond them (they are then a "1" written
    beside the wall). Its thickness and position are measured only in the columns where
    nothing touches it (the thinnest vertical runs through that row), so a stroke lying
    on the line does not widen it; a straight fit through those columns follows a
    slightly tilted line, and a thin line tilted more is first laid flat
    (:func:`_wall_zones`).
    A "1" written along the wall can cover most of it: when the thinnest quarter of
    the columns is still more than two pixels thicker than ``pen`` (the thickness of
    the box's lines erased before, drawn with the same pen) and some columns are as
    thin as that, the line is measured in those.

    Then, column by column, only the line's band is erased. A stroke that goes on at
    least two pixels past both sides of the band crosses or lies on the line (it is
    thicker than the line there): that column is kept whole and its band pixels are
    marked in ``crossings`` (two pixels, so that a neighbour's digit and this one that
    touch the line from either side are not joined through it). A stroke touching the
    line from one side keeps every pixel outside the band; a lone pixel just past the
    band is the line's anti-aliased rim. With ``slants`` (None: not looked for), a
    stroke that enters the band from one side and leaves it from the other within a
    band's thickness of there, slanting, has the band's pixels between marked in it.

    Returns the row just past the line (where the box surely ends) and the line's
    thickness, or None when there is no line.
    """
    h, w = mask.shape[0] - 2, mask.shape[1]
    reach = pad + max(1, pad // 5)
    zones, tilts = _wall_zones(mask, h - reach, pad)
    side = zones.shape[2]
    profile = zones.sum(axis=2)[tilts, np.arange(reach)]
    most = int(profile.max())
    if most < 0.5 * side:
        return None
    # Of the dense rows (a stroke beside the line is rarely as dense), the one nearest
    # the box edge: further out may lie the wall of the next box.
    dense = np.flatnonzero(profile >= 0.8 * most)
    near = int(np.argmin(np.abs(dense - (reach - pad))))
    # Dense rows at most a row apart are one line, or a line and a "1" written along
    # it (ink on most of the line's length, and beside it): its densest row is the line.
    breaks = np.flatnonzero(np.diff(dense) > 2)
    first = int(breaks[breaks < near].max() + 1) if (breaks < near).any() else 0
    last = int(breaks[breaks >= near].min() + 1) if (breaks >= near).any() else len(dense)
    group = dense[first:last]
    # A "1" just inside the wall can be nearer the edge than the wall; a denser line
    # just beyond is the wall (the next box's wall lies a gap further out).
    beyond = dense[last:]
    beyond = beyond[
        (beyond <= group[-1] + max(3, pad // 4)) & (profile[beyond] >= 1.05 * profile[group].max())
    ]
    if len(beyond):
        group = beyond
    k = int(group[np.argmax(profile[group])])
    zone, tilt = zones[tilts[k]], float(TILTS[tilts[k]])
    hit = zone[k]
    up = np.cumprod(zone[:k][::-1], axis=0).sum(axis=0)
    down = np.cumprod(zone[k + 1 :], axis=0).sum(axis=0)
    length = up + down + 1
    # (sorted-array quantiles and plain sums: np.median, np.percentile and np.mean
    # would cost more than all the rest)
    runs = np.sort(length[hit])
    alone = hit & (length <= runs[len(runs) // 4] + 1)
    if pen is not None and runs[len(runs) // 4] > pen + 2 and runs[0] <= pen + 1:
        alone = hit & (length <= pen + 1)
    xs = np.flatnonzero(alone)
    centre = (down[alone] - up[alone]) / 2.0  # from the middle of row k
    thickness = int(np.sort(length[alone])[len(xs) // 2])
    x_mid, c_mid = xs.sum() / len(xs), centre.sum() / len(xs)
    dx = xs - x_mid
    slope = min(0.1, max(-0.1, float(dx @ centre) / max(float(dx @ dx), 1.0)))
    # The band's first row in every column, rounded (positive: + 0.5 and truncate).
    cols = np.arange(w)
    top = h - reach + k + 0.5 + c_mid - thickness / 2.0 - slope * (pad + x_mid)
    start = (top + 0.5 + slope * cols + tilt * (cols - (w - 1) / 2)).astype(np.intp)
    start = start.clip(h - reach, h)
    # Straighten the line: rows from two above the band to two below, in every column.
    rows = np.minimum(start + np.arange(-2, thickness + 2)[:, None], h + 1)
    strip = mask[rows, cols]
    band = strip[2:-2]
    # A ruled line runs from wall to wall (worn gaps aside); a dense digit stroke near
    # the edge, such as the bar of a 7 where no line is drawn, does not.
    ink_at = np.flatnonzero(strip[1:-1, pad : w - pad].any(axis=0))
    if len(ink_at) == 0 or ink_at[0] > 0.2 * side or ink_at[-1] < 0.8 * side - 1:
        return None
    in1, out1 = strip[1], strip[-2]
    in2, out2 = in1 & strip[0], out1 & strip[-1]
    through = in2 & out2
    if through.any():
        crossings[rows[2:-2], cols] |= band & through
    if slants is not None:
        # a slanting stroke leaves the band up to a band's thickness beside where it entered
        beside = np.ones(2 * thickness + 1, np.uint8)
        slant = _widen(in2, beside) & _widen(out2, beside) & ~through
        if slant.any():
            slants[rows[2:-2], cols] |= band & slant
    band &= through
    strip[1] &= through | in2
    strip[-2] &= through | out2
    mask[rows, cols] = strip
    return int(start[pad : w - pad].max()) + thickness, thickness


def _widen(row: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """A bool row dilated by a 1-D kernel."""
    return np.convolve(row.astype(np.uint8), kernel, mode="same") > 0


def _wall_zones(mask: np.ndarray, first: int, pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The rows from ``first`` down, across the box, and the tilt that suits each row.

    A thin line tilted by a tenth of a pixel per column spreads over several rows, none
    of which holds half of it; shifting each column by whole rows lays it flat again.
    When no row holds three quarters of the box as it is (a solid straight wall does),
    the rows are sheared for every tilt in :data:`TILTS`, and each row takes its best
    tilt: one that gains a quarter of the box per step (a thin tilted line gains more),
    so that a digit stroke beside a straight line does not tilt the band. Returns bool
    (tilts, rows, box width) and, per row, the index of its tilt. Reads past the last
    row are paper (the last row of ``mask`` is).
    """
    h, w = mask.shape
    zones = np.ascontiguousarray(mask[None, first : h - 2, pad : w - pad])
    if zones.sum(axis=2).max() >= 0.75 * zones.shape[2]:
        return zones, np.zeros(zones.shape[1], np.intp)
    zones = np.ravel(mask)[_tilt_index(h, w, first, pad)]
    steps = np.abs(TILTS) / TILTS[2]
    score = zones.sum(axis=2) - (0.25 * zones.shape[2] * steps)[:, None]
    return zones, np.argmax(score, axis=0)


@functools.lru_cache(maxsize=64)
def _tilt_index(h: int, w: int, first: int, pad: int) -> np.ndarray:
    """Flat indices into an (h, w) array for :func:`_wall_zones` (crops share a few sizes)."""
    xs = np.arange(pad, w - pad)
    shifts = np.rint(TILTS[:, None] * (xs - (w - 1) / 2)).astype(np.intp)
    rows = (np.arange(first, h - 2)[None, :, None] + shifts[:, None, :]).clip(0, h - 1)
    index = rows * w + xs
    index.flags.writeable = False
    return index


def wall_remnants(inner: np.ndarray, candidate: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Candidates whose ink inside the box is only pieces of a box wall (bool per label).

    ``inner`` is the label image of the box interior; ``found`` says which of its walls
    (bottom, top, right, left) :func:`_remove_line` found and erased. A wall it did not
    find is often broken into pieces too short or too far apart to count as a line:
    what is left inside the box is a thin, straight piece along that edge, reaching at
    most a tenth of the box into it and no thicker than a ruled line. Of a wall that
    was erased, a ragged rim up to two pixels thick can be left. A component counts as
    a remnant when every piece of it inside the box is one (it may go on outside, as a
    wall does). A digit's stroke beside a wall reaches further in: a "1" written near
    the edge is as thick as the pen and stands off the line; what is left of a stroke
    that lay on an erased line is thicker than its rim.
    """
    h, w = inner.shape
    side = min(h, w)
    depth = max(3, round(0.1 * side))
    # only a component that keeps out of the box's core can be one
    suspect = candidate.copy()
    suspect[inner[depth : h - depth, depth : w - depth]] = False
    if not suspect.any():
        return suspect
    m, pieces, stats, _ = cv2.connectedComponentsWithStats(
        suspect[inner].astype(np.uint8), connectivity=8
    )
    parent = np.zeros(m, np.intp)
    parent[pieces.ravel()] = inner.ravel()
    x0, y0 = stats[:, cv2.CC_STAT_LEFT], stats[:, cv2.CC_STAT_TOP]
    bw, bh = stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT]
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    remnant = np.zeros(m, bool)
    # (near that edge, length along the wall, extent across it) for the four walls
    walls = (
        (y0 >= h - depth, bw, bh),
        (y0 + bh <= depth, bw, bh),
        (x0 >= w - depth, bh, bw),
        (x0 + bw <= depth, bh, bw),
    )
    for (near, length, across), erased in zip(walls, found, strict=True):
        thickness = area / length
        remnant |= (
            near
            & (thickness <= (2.0 if erased else 0.1 * side))
            & (across <= thickness + 0.12 * length + 1)
        )
    # a component is a remnant when none of its pieces inside the box is anything else
    suspect[parent[1:][~remnant[1:]]] = False
    return suspect
