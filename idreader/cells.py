"""Clean each box of an ID grid into an MNIST-style 28x28 image.

MNIST digits were made by scaling each digit's bounding box to fit 20x20 pixels
(aspect ratio kept, anti-aliased) and placing it in a 28x28 field with its centre of
mass at the centre, white ink on black. The classifier was trained on exactly that, so
every box goes through the same recipe here, after the scan is cleaned up:

1. warp the box to an upright crop with a margin around it (:func:`clean_cells`);
2. measure paper level and noise, keep ink by hysteresis thresholding (faint pencil
   strokes survive as long as they are connected to clearly dark ones);
3. remove the ruled border lines in the margin, drop specks and anything that lies
   outside the box, keep every stroke of a multi-stroke digit and the part of a digit
   that crosses into the border;
4. normalise the ink to [0, 1] and place it MNIST-style.

An empty box comes out as an all-zero image: the classifier learns "blank" from these.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from .grid import IDGrid

logger = logging.getLogger(__name__)

#: Inner box side (pixels) of the crops :func:`clean_cells` hands to :func:`clean_cell`.
CROP_SIDE = 56
#: Margin added on each side of the box, as a fraction of the inner box side: room for
#: a digit that crosses a wall, and for the wall's own width.
CROP_PAD = 0.35
#: Smallest ink contrast (0-255) that counts as a stroke and as a stroke's core.
MIN_LOW, MIN_HIGH = 22.0, 45.0


@dataclass(frozen=True)
class Cells:
    """The cleaned boxes of one grid.

    Attributes
    ----------
    images : np.ndarray
        float32 (n, 28, 28) in [0, 1]: white ink on black, digit scaled into a 20x20 box
        by aspect ratio, centre of mass at the centre.
    ink : np.ndarray
        float32 (n,): fraction of the box interior covered by ink after cleaning (0.0 for
        an empty box).
    """

    images: np.ndarray
    ink: np.ndarray


def box_crop(image: np.ndarray, quad: np.ndarray) -> np.ndarray:
    """Warp one box (inner corners tl, tr, br, bl) to an upright gray crop with a margin.

    The inner box becomes at most CROP_SIDE pixels on its long side (aspect ratio kept)
    and a margin of CROP_PAD times the side surrounds it, so the ruled lines sit in the
    margin.

    Examples
    --------
    >>> page = np.full((100, 100), 255, np.uint8)
    >>> box_crop(page, np.array([[10, 10], [40, 10], [40, 40], [10, 40]], np.float32)).shape
    (96, 96)
    """
    quad = np.asarray(quad, np.float32)
    width = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    scale = CROP_SIDE / max(width, height, 1.0)
    w, h = max(4, round(width * scale)), max(4, round(height * scale))
    pad = round(CROP_PAD * CROP_SIDE)
    dst = np.float32([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]])
    m = cv2.getPerspectiveTransform(quad, dst)
    return cv2.warpPerspective(
        image,
        m,
        (w + 2 * pad, h + 2 * pad),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )


def _hysteresis(contrast: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above ``low`` connected (8-way) to a pixel above ``high``."""
    weak = (contrast > low).astype(np.uint8)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    strong = np.zeros(n, bool)
    strong[np.unique(labels[contrast > high])] = True
    strong[0] = False
    return strong[labels]


def _remove_border_lines(mask: np.ndarray, pad: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Erase the box's four ruled lines, and only the lines' own pixels.

    Each wall is handled by :func:`_remove_line` as the bottom wall of a flipped or
    transposed view; the horizontal walls go first, so that where they meet a vertical
    wall they are gone and do not look like strokes crossing it. Returns the cleaned
    mask, the line pixels kept because a stroke crosses the line there, and where the
    digit may lie: the box with a small tolerance, and up to a wall found further out
    than the box edge.
    """
    h, w = mask.shape
    # two rows and columns of paper around the crop, so that reads past an edge are 0
    out = np.zeros((h + 4, w + 4), bool)
    out[2:-2, 2:-2] = mask
    crossings = np.zeros_like(out)
    near_box = np.zeros_like(mask)
    edge = max(2, pad // 4)
    near_box[pad - edge : h - pad + edge, pad - edge : w - pad + edge] = True
    walls = (
        (lambda a: a[2:, 2:-2], lambda a: a),
        (lambda a: a[:-2, 2:-2][::-1], lambda a: a[::-1]),
        (lambda a: a[2:-2, 2:].T, lambda a: a.T),
        (lambda a: a[2:-2, :-2].T[::-1], lambda a: a.T[::-1]),
    )
    for padded, plain in walls:
        outer = _remove_line(padded(out), padded(crossings), pad)
        if outer is not None:
            near = plain(near_box)
            near[pad:outer, pad - edge : near.shape[1] - pad + edge] = True
    return out[2:-2, 2:-2], (crossings & out)[2:-2, 2:-2], near_box


def _remove_line(mask: np.ndarray, crossings: np.ndarray, pad: int) -> int | None:
    """Erase the ruled line along the bottom wall of ``mask`` (in place).

    ``mask`` is the crop with two rows of paper added below. The line is looked for in
    the margin and a pixel or two into the box: the densest rows there (ink across at
    least half of the box width, so a worn or faint line still counts), nearest the box
    edge. Its thickness and position are measured only in the columns where nothing
    touches it (the thinnest vertical runs through that row), so a stroke lying on the
    line does not widen it; a straight fit through those columns follows a slightly
    tilted line.

    Then, column by column, only the line's band is erased. A stroke that goes on at
    least two pixels past both sides of the band crosses or lies on the line (it is
    thicker than the line there): that column is kept whole and its band pixels are
    marked in ``crossings`` (two pixels, so that a neighbour's digit and this one that
    touch the line from either side are not joined through it). A stroke touching the
    line from one side keeps every pixel outside the band; a lone pixel just past the
    band is the line's anti-aliased rim.

    Returns the row just past the line (where the box surely ends), or None when there
    is no line.
    """
    h, w = mask.shape[0] - 2, mask.shape[1]
    reach = pad + max(1, pad // 5)
    zone = np.ascontiguousarray(mask[h - reach : h, pad : w - pad])
    side = zone.shape[1]
    profile = zone.sum(axis=1)
    most = int(profile.max())
    if most < 0.5 * side:
        return None
    # Of the dense rows (a stroke beside the line is rarely as dense), the one nearest
    # the box edge: further out may lie the wall of the next box.
    dense = np.flatnonzero(profile >= 0.8 * most)
    k = int(dense[np.argmin(np.abs(dense - (reach - pad)))])
    hit = zone[k]
    up = np.cumprod(zone[:k][::-1], axis=0).sum(axis=0)
    down = np.cumprod(zone[k + 1 :], axis=0).sum(axis=0)
    length = up + down + 1
    # (sorted-array quantiles and plain sums: np.median, np.percentile and np.mean
    # would cost more than all the rest)
    runs = np.sort(length[hit])
    alone = hit & (length <= runs[len(runs) // 4] + 1)
    xs = np.flatnonzero(alone)
    centre = (down[alone] - up[alone]) / 2.0  # from the middle of row k
    thickness = int(np.sort(length[alone])[len(xs) // 2])
    x_mid, c_mid = xs.sum() / len(xs), centre.sum() / len(xs)
    dx = xs - x_mid
    slope = min(0.1, max(-0.1, float(dx @ centre) / max(float(dx @ dx), 1.0)))
    # The band's first row in every column, rounded (positive: + 0.5 and truncate).
    cols = np.arange(w)
    top = h - reach + k + 0.5 + c_mid - thickness / 2.0 - slope * (pad + x_mid)
    start = (top + 0.5 + slope * cols).astype(np.intp).clip(h - reach, h)
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
    band &= through
    strip[1] &= through | in2
    strip[-2] &= through | out2
    mask[rows, cols] = strip
    return int(start[pad : w - pad].max()) + thickness


def _keep_digit(
    mask: np.ndarray, pad: int, crossings: np.ndarray, near_box: np.ndarray
) -> np.ndarray:
    """Components that form the digit: inside the box, stroke-like, near the main stroke.

    A part must have most of its pixels inside the box and span at least 15 % of the
    box (a speck is a compact dot); the largest part must span 30 % (a digit is never
    smaller). Other parts join it when close and not tiny, which keeps the separate
    strokes of a 4, 5 or 7.
    """
    h, w = mask.shape
    n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if n <= 1:
        return np.zeros_like(mask)
    # a wall that a stroke crosses is no reason to count the stroke outside the box
    inside = crossings.copy()
    inside[pad : h - pad, pad : w - pad] = True
    inner_count = np.bincount(labels[inside], minlength=n)
    area = stats[:, cv2.CC_STAT_AREA].astype(np.float64)
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    side = float(min(h, w) - 2 * pad)
    candidate = (
        (inner_count >= 0.5 * area) & (area >= 0.004 * side * side) & (extent >= 0.15 * side)
    )
    candidate[0] = False
    if not candidate.any():
        return np.zeros_like(mask)
    main = int(np.argmax(np.where(candidate, area, -1)))
    if extent[main] < 0.3 * side:
        return np.zeros_like(mask)
    keep = np.zeros(n, bool)
    keep[main] = True
    x0, y0 = stats[main, cv2.CC_STAT_LEFT], stats[main, cv2.CC_STAT_TOP]
    x1, y1 = x0 + stats[main, cv2.CC_STAT_WIDTH], y0 + stats[main, cv2.CC_STAT_HEIGHT]
    for i in np.flatnonzero(candidate):
        cx0, cy0 = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
        cx1, cy1 = cx0 + stats[i, cv2.CC_STAT_WIDTH], cy0 + stats[i, cv2.CC_STAT_HEIGHT]
        gap = max(0, x0 - cx1, cx0 - x1, y0 - cy1, cy0 - y1)
        if gap <= 0.25 * side and area[i] >= 0.06 * area[main] or area[i] >= 0.4 * area[main]:
            keep[i] = True
    # Line remnants hang off the digit into the margin: keep only what is near the box,
    # unless the stroke crosses a line (then it is all the digit's).
    crossed = np.zeros(n, bool)
    crossed[np.unique(labels[crossings])] = True
    return keep[labels] & (near_box | crossed[labels])


def to_mnist(ink: np.ndarray) -> np.ndarray:
    """Place a float ink image (white on black) MNIST-style into 28x28.

    The ink's bounding box is scaled to fit 20x20 (aspect ratio kept, anti-aliased) and
    shifted by whole pixels so its centre of mass lands on pixel (14, 14), as in MNIST.

    Examples
    --------
    >>> ink = np.zeros((50, 50), np.float32); ink[10:40, 20:26] = 1.0
    >>> out = to_mnist(ink)
    >>> out.shape, int(np.count_nonzero(out.sum(axis=1) > 0.5))
    ((28, 28), 20)
    """
    out = np.zeros((28, 28), np.float32)
    ys, xs = np.nonzero(ink > 0)
    if len(ys) == 0:
        return out
    crop = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1].astype(np.float32)
    h, w = crop.shape
    scale = 20.0 / max(h, w)
    nh, nw = max(1, round(h * scale)), max(1, round(w * scale))
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    small = np.clip(cv2.resize(crop, (nw, nh), interpolation=interp), 0.0, 1.0)
    total = float(small.sum())
    if total <= 0:
        return out
    cy = float((small.sum(axis=1) * np.arange(nh)).sum()) / total
    cx = float((small.sum(axis=0) * np.arange(nw)).sum()) / total
    # MNIST moved each digit by whole pixels so that its centre of mass sits at pixel
    # (14, 14) (the MNIST test set: mean 14.0, spread 0.29 = whole-pixel rounding).
    oy, ox = int(round(14 - cy)), int(round(14 - cx))
    ya, xa = max(0, oy), max(0, ox)
    yb, xb = min(28, oy + nh), min(28, ox + nw)
    out[ya:yb, xa:xb] = small[ya - oy : yb - oy, xa - ox : xb - ox]
    return out


def _percentiles(crop: np.ndarray, qs: tuple[int, ...]) -> list[float]:
    """Percentiles of a uint8 image from its histogram (much faster than sorting)."""
    cumulative = np.cumsum(np.bincount(np.asarray(crop, np.uint8).ravel(), minlength=256))
    return [float(np.searchsorted(cumulative, q / 100 * cumulative[-1])) for q in qs]


def clean_cell(crop: np.ndarray, *, pad_fraction: float | None = None) -> tuple[np.ndarray, float]:
    """Turn one gray box crop (dark ink on light paper) into an MNIST-style image.

    Parameters
    ----------
    crop : np.ndarray
        uint8 (h, w) gray crop of one box with a margin around it, as made by
        :func:`box_crop` (the ruled lines lie in the margin); not modified.
    pad_fraction : float or None
        Margin on each side as a fraction of the crop's long side; default the margin
        of :func:`box_crop` (``CROP_PAD / (1 + 2 * CROP_PAD)``).

    Returns
    -------
    image : np.ndarray
        float32 (28, 28) in [0, 1], white ink on black; all zero for an empty box.
    ink : float
        Fraction of the box interior covered by kept ink.

    Examples
    --------
    >>> blank = np.full((96, 96), 235, np.uint8)
    >>> img, ink = clean_cell(blank)
    >>> float(img.max()), ink
    (0.0, 0.0)
    """
    if pad_fraction is None:
        pad_fraction = CROP_PAD / (1 + 2 * CROP_PAD)
    gray = np.asarray(crop, np.float32)
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
    h, w = gray.shape
    pad = int(round(pad_fraction * max(h, w)))
    p50, p75, paper = _percentiles(crop, (50, 75, 90))
    sigma = max(0.0, float(p75 - p50)) / 0.6745
    contrast = np.clip(paper - gray, 0, None)
    low, high = max(MIN_LOW, 3.0 * sigma), max(MIN_HIGH, 5.0 * sigma)
    mask = _hysteresis(contrast, low, high)
    mask, crossings, near_box = _remove_border_lines(mask, pad)
    keep = _keep_digit(mask, pad, crossings, near_box)
    if not keep.any():
        return np.zeros((28, 28), np.float32), 0.0
    interior = keep[pad : h - pad, pad : w - pad]
    ink_fraction = float(interior.mean())
    # Anti-aliased edges: include the soft rim of kept strokes, scale the core to 1.
    rim = cv2.dilate(keep.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    level = float(np.percentile(contrast[keep], 90))
    soft = np.clip((contrast - 0.5 * low) / max(level - 0.5 * low, 1.0), 0.0, 1.0) * rim
    return to_mnist(soft), ink_fraction


def clean_cells(image: np.ndarray, grid: IDGrid) -> Cells:
    """Clean every box of a grid.

    Parameters
    ----------
    image : np.ndarray
        uint8 (H, W) gray upright page (``grid.upright(page, grid.rotation)``).
    grid : IDGrid
        The grid found on that page.

    Returns
    -------
    Cells
        ``images`` float32 (n, 28, 28) and ``ink`` float32 (n,).

    Examples
    --------
    >>> from idreader.grid import IDGrid
    >>> quads = np.array([[[10, 10], [40, 10], [40, 40], [10, 40]]], np.float32)
    >>> g = IDGrid(quads, 0, 0.0, (10.0, 10.0, 40.0, 40.0), 1.0)
    >>> clean_cells(np.full((60, 60), 255, np.uint8), g).images.shape
    (1, 28, 28)
    """
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    results = [clean_cell(box_crop(image, quad)) for quad in grid.cells]
    images = np.stack([r[0] for r in results]).astype(np.float32)
    ink = np.array([r[1] for r in results], np.float32)
    return Cells(images=images, ink=ink)
