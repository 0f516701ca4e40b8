"""Clean each box of an ID grid into an MNIST-style 28x28 image.

MNIST digits were made by scaling each digit's bounding box to fit 20x20 pixels
(aspect ratio kept, anti-aliased) and placing it in a 28x28 field with its centre of
mass at the centre, white ink on black. The classifier was trained on exactly that, so
every box goes through the same recipe here, after the scan is cleaned up:

1. warp the box to an upright crop with a margin around it (:func:`clean_cells`);
2. measure paper level and noise, keep ink by hysteresis thresholding (faint pencil
   strokes survive as long as they are connected to clearly dark ones);
3. remove the ruled border lines in the margin (tilted or broken ones too, and what a
   line leaves behind), drop specks and anything that lies outside the box, keep
   every stroke of a multi-stroke digit and the part of a digit that crosses into the
   border; a stroke that crosses into a neighbouring box goes to one box only
   (:func:`clean_cells` looks at the whole row for that), and two digits that touch
   across a wall are cut apart in several ways for the model to choose from, and
   shown whole to the pair model (:class:`Alternatives`, :mod:`idreader.cell_split`),
   as is a digit with and
   without a dot beside it, which may be a speck, a digit that runs into a wall
   with and without the line there, which may hide a stroke, an empty box with and
   without a side wall's line where a 1 may lie on it, and a box with pieces a
   threshold may have broken off one digit, with and without them joined up, and a
   digit pushed out of the row with and without the strokes it left outside it;
4. normalise the ink to [0, 1] and place it MNIST-style.

An empty box comes out as an all-zero image: the classifier learns "blank" from these.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from .cell_split import (
    BROKEN_ODDS,
    CONTEXT_SHAPE,
    CONTEXT_WEIGHT,
    CUT_SHARPNESS,
    LYING_ODDS,
    OFFSETS,
    OUTSIDE_ODDS,
    OVERLAP,
    PAIR_SHAPE,
    PAIR_WEIGHT,
    SPECK_ODDS,
    WALL_ODDS,
    blend,
    context_view,
    cut_weights,
    pair_view,
    prior_weights,
    scanned_ink,
    seam_sides,
)
from .cell_walls import Unruled, remove_border_lines, wall_remnants

if TYPE_CHECKING:
    from .grid import IDGrid

logger = logging.getLogger(__name__)

#: Inner box side (pixels) of the crops :func:`clean_cells` hands to :func:`clean_cell`.
CROP_SIDE = 56
#: Margin added on each side of the box, as a fraction of the inner box side: room for
#: a digit that crosses a wall, and for the wall's own width.
CROP_PAD = 0.35
#: That margin as a fraction of the crop's long side (the default of :func:`clean_cell`).
PAD_FRACTION = CROP_PAD / (1 + 2 * CROP_PAD)
#: Smallest ink contrast (0-255) that counts as a stroke and as a stroke's core.
MIN_LOW, MIN_HIGH = 22.0, 45.0

#: Largest gap (fraction of the box side) between two pieces of a digit that a threshold
#: broke apart (:func:`_broken_digit`): one or two pen strokes' width in a crop.
BROKEN_GAP = 0.15

#: How far (fraction of the box side) from a digit that crosses the row's edge a stroke
#: outside the row may lie to be read as part of it (:func:`_strokes_outside`).
OUTSIDE_GAP = 0.2

#: How much wider (pixels, in a crop of :data:`CROP_SIDE`) than the line alone the ink
#: across an erased line must be for a stroke to lie on it there (:func:`_lying`).
LYING_EXTRA = 2
#: How near (fraction of the box side) to the box's corners a stroke lying on a line is
#: not looked for: the walls across the line thicken it there.
LYING_CORNER = 0.1
#: How long (fraction of the box side) a stretch of such widening beyond the places the
#: digit's strokes touch the line must be to be a stroke (shorter ones are the line's
#: own unevenness, or a stroke's end).
LYING_LENGTH = 0.15
#: How many positions along a line without that widening a stroke lying on it may
#: skip (its edge wavers about the line's).
LYING_GAP = 3
#: How long (fraction of the box side) a stroke lying on a side wall of a box without
#: a digit must be for the box to be read also with it given back: a 1 written on the
#: line is erased with it whole (:func:`_one_on_a_wall`).
LYING_WHOLE = 0.4
#: How far (fraction of the box side) past a line the ink of a stroke lying on it may
#: reach (:func:`_one_on_a_wall`); ink that reaches further is a stroke running into
#: the line.
LYING_REACH = 0.25

#: One reading of a box: MNIST-style image, ink fraction, prior odds against the first,
#: and whether a line was given back to make it (:func:`_wall_strokes`).
_Reading = tuple[np.ndarray, float, float, bool]


@dataclass(frozen=True)
class Alternatives:
    """Boxes the model reads in several ways, and how their readings are weighed.

    Two neighbouring boxes whose digits touch across their wall, in several cuts
    (:func:`idreader.cell_split.cut_weights`), or one box as cleaned and without the
    dots beside its digit, or with the strokes that lay on its walls given back, or
    with the pieces of a broken digit joined up, or with the strokes outside the row
    beside a digit pushed out of it (``odds``,
    :func:`idreader.cell_split.prior_weights`).

    Attributes
    ----------
    boxes : tuple of int
        The boxes (indices into the grid's boxes): the left and the right one of a
        touching pair, or the one box read in several ways.
    images : np.ndarray
        float32 (k, len(boxes), 28, 28): the boxes' MNIST-style images for each of k
        readings; the first is the one :attr:`Cells.images` holds (the cut nearest the
        wall, or the box as cleaned).
    ink : np.ndarray
        float32 (k, len(boxes)): the ink fractions that go with them.
    odds : tuple of float
        One box's readings: the prior odds of each against the first
        (:data:`idreader.cell_split.SPECK_ODDS`, :data:`idreader.cell_split.WALL_ODDS`,
        :data:`idreader.cell_split.BROKEN_ODDS`, :data:`idreader.cell_split.OUTSIDE_ODDS`);
        empty for the cuts of a touching pair.
    walls : tuple of bool
        Which of those readings have a line given back (:data:`idreader.cell_split.WALL_ODDS`
        is in their odds); empty for the cuts of a touching pair.
    pair : np.ndarray or None
        float32 :data:`idreader.cell_split.PAIR_SHAPE`: a touching pair's two boxes side
        by side, cleaned and as scanned (:func:`idreader.cell_split.pair_view`), for the
        pair model; None for one box.
    context : np.ndarray or None
        float32 :data:`idreader.cell_split.CONTEXT_SHAPE`: one box read with a line
        given back, as scanned (:func:`idreader.cell_split.context_view`), for the
        context model; None otherwise.
    """

    boxes: tuple[int, ...]
    images: np.ndarray
    ink: np.ndarray
    odds: tuple[float, ...] = ()
    walls: tuple[bool, ...] = ()
    pair: np.ndarray | None = None
    context: np.ndarray | None = None


@dataclass(frozen=True)
class Cells:
    """The cleaned boxes of one grid.

    Attributes
    ----------
    images : np.ndarray
        float32 (n, 28, 28) in [0, 1]: white ink on black, digit scaled into a 20x20 box
        by aspect ratio, centre of mass at the centre. The boxes of
        :class:`Alternatives` hold its first reading until :meth:`resolve` weighs them.
    ink : np.ndarray
        float32 (n,): fraction of the box interior covered by ink after cleaning (0.0 for
        an empty box).
    alternatives : tuple of Alternatives
        Boxes the model must read in several ways (:meth:`resolve`).
    """

    images: np.ndarray
    ink: np.ndarray
    alternatives: tuple[Alternatives, ...] = ()

    @property
    def inputs(self) -> np.ndarray:
        """Every image the model must read: the boxes, then every reading of the alternatives.

        Examples
        --------
        >>> Cells(np.zeros((3, 28, 28), np.float32), np.zeros(3, np.float32)).inputs.shape
        (3, 28, 28)
        """
        more = [alt.images.reshape(-1, 28, 28) for alt in self.alternatives]
        return np.concatenate([self.images, *more]) if more else self.images

    @property
    def pair_inputs(self) -> np.ndarray:
        """Every view the pair model must read: one per touching pair, in order.

        Examples
        --------
        >>> Cells(np.zeros((3, 28, 28), np.float32), np.zeros(3, np.float32)).pair_inputs.shape
        (0, 2, 28, 48)
        """
        views = [alt.pair for alt in self.alternatives if alt.pair is not None]
        return np.array(views, np.float32).reshape(-1, *PAIR_SHAPE)

    @property
    def context_inputs(self) -> np.ndarray:
        """Every view the context model must read: one per box read with a line given
        back, in order.

        Examples
        --------
        >>> Cells(np.zeros((3, 28, 28), np.float32), np.zeros(3, np.float32)).context_inputs.shape
        (0, 48, 48)
        """
        views = [alt.context for alt in self.alternatives if alt.context is not None]
        return np.array(views, np.float32).reshape(-1, *CONTEXT_SHAPE)

    def resolve(
        self,
        probs: np.ndarray,
        pair_probs: np.ndarray | None = None,
        context_probs: np.ndarray | None = None,
        *,
        cut_sharpness: float = CUT_SHARPNESS,
        pair_weight: float = PAIR_WEIGHT,
        context_weight: float = CONTEXT_WEIGHT,
    ) -> tuple[np.ndarray, Cells]:
        """Each box's class probabilities from the models' reading of :attr:`inputs`
        (and of :attr:`pair_inputs` and :attr:`context_inputs`).

        The boxes of :class:`Alternatives` get their probabilities averaged over its
        readings, weighted by :func:`idreader.cell_split.cut_weights` (touching digits)
        or :func:`idreader.cell_split.prior_weights` (one box read in several ways), and
        the likeliest reading's images. With ``pair_probs``, a touching pair's boxes get
        the cuts' reading and the pair model's blended (:func:`idreader.cell_split.blend`);
        with ``context_probs``, so does a box read with a line given back, with the
        context model's.

        Parameters
        ----------
        probs : np.ndarray
            (len(inputs), 11) class probabilities, in the order of :attr:`inputs`.
        pair_probs : np.ndarray or None
            (len(pair_inputs), 2, 11) the pair model's probabilities
            (:class:`idreader.classifier.PairClassifier`); None reads the pairs from
            their cuts alone.
        context_probs : np.ndarray or None
            (len(context_inputs), 11) the context model's probabilities
            (:class:`idreader.classifier.ContextClassifier`); None reads those boxes
            from their readings alone.
        cut_sharpness : float
            ``sharpness`` of :func:`idreader.cell_split.cut_weights` (tuned by
            ``training/reading_odds.py``).
        pair_weight : float
            ``weight`` of :func:`idreader.cell_split.blend` for a touching pair (tuned
            likewise).
        context_weight : float
            ``weight`` of :func:`idreader.cell_split.blend` for a box with a line given
            back (tuned likewise).

        Returns
        -------
        probs : np.ndarray
            (n, 11), one row per box.
        cells : Cells
            These cells with the likeliest readings in place and no alternatives left.

        Examples
        --------
        >>> cells = Cells(np.zeros((2, 28, 28), np.float32), np.zeros(2, np.float32))
        >>> p, _ = cells.resolve(np.eye(11)[[10, 10]])
        >>> p.argmax(axis=1).tolist()
        [10, 10]
        """
        n = len(self.images)
        out = np.array(probs[:n], np.float64)
        images, ink = self.images.copy(), self.ink.copy()
        offset, pairs, contexts = n, 0, 0
        for alt in self.alternatives:
            k, b = alt.ink.shape
            read = np.asarray(probs[offset : offset + k * b], np.float64).reshape(k, b, -1)
            offset += k * b
            if alt.odds:
                weights = prior_weights(read, alt.odds)
            else:
                weights = cut_weights(read, cut_sharpness)
            boxes = list(alt.boxes)
            out[boxes] = np.einsum("k,kcj->cj", weights, read)
            if alt.pair is not None:
                if pair_probs is not None:
                    out[boxes] = blend(out[boxes], pair_probs[pairs], pair_weight)
                pairs += 1
            if alt.context is not None:
                if context_probs is not None:
                    out[boxes] = blend(out[boxes], context_probs[contexts], context_weight)
                contexts += 1
            best = int(np.argmax(weights))
            images[boxes], ink[boxes] = alt.images[best], alt.ink[best]
        return out.astype(np.float32), Cells(images, ink)


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
    return _warp_box(image, quad)[0]


def _warp_box(image: np.ndarray, quad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """:func:`box_crop`'s crop and the perspective matrix (page to crop) that made it."""
    quad = np.asarray(quad, np.float32)
    width = float(np.linalg.norm(quad[1] - quad[0]) + np.linalg.norm(quad[2] - quad[3])) / 2
    height = float(np.linalg.norm(quad[3] - quad[0]) + np.linalg.norm(quad[2] - quad[1])) / 2
    scale = CROP_SIDE / max(width, height, 1.0)
    w, h = max(4, round(width * scale)), max(4, round(height * scale))
    pad = round(CROP_PAD * CROP_SIDE)
    dst = np.float32([[pad, pad], [pad + w, pad], [pad + w, pad + h], [pad, pad + h]])
    m = cv2.getPerspectiveTransform(quad, dst)
    crop = cv2.warpPerspective(
        image,
        m,
        (w + 2 * pad, h + 2 * pad),
        flags=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_REPLICATE,
    )
    return crop, m


def _grid_neighbours(quads: np.ndarray, index: int, m: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The grid's other boxes as seen from the crop of box ``index``.

    ``m`` maps the page to that crop (:func:`_warp_box`). Returns their corners in the
    crop, float32 (k, 4, 2), and their numbers, int (k,): box ``j`` of the grid is
    number ``j + 1``.
    """
    corners = cv2.perspectiveTransform(np.asarray(quads, np.float32).reshape(-1, 1, 2), m)
    numbers = np.flatnonzero(np.arange(len(quads)) != index)
    return corners.reshape(-1, 4, 2)[numbers], numbers + 1


def _row_neighbours(shape: tuple[int, int], pad: int) -> tuple[np.ndarray, np.ndarray]:
    """The boxes a lone crop is assumed to sit between: left and right of it, in a row.

    Same form as :func:`_grid_neighbours`, numbered 1 and 2; each reaches past the crop.
    """
    h, w = shape
    edge = max(2, pad // 4)
    top, bottom, inner = pad, h - pad - 1, pad - edge - 1
    corners = np.float32(
        [
            [[inner - w, top], [inner, top], [inner, bottom], [inner - w, bottom]],
            [[w - inner - 1, top], [2 * w, top], [2 * w, bottom], [w - inner - 1, bottom]],
        ]
    )
    return corners, np.array([1, 2])


def _box_map(corners: np.ndarray, numbers: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """int32 map (``shape``) of where each of the boxes lies, by number; 0 is no box."""
    out = np.zeros(shape, np.int32)
    for number, corner in zip(numbers, np.round(corners).astype(np.int32), strict=True):
        cv2.fillConvexPoly(out, corner, int(number))
    return out


def _other_walls(corners: np.ndarray, near_box: np.ndarray, side: int) -> np.ndarray:
    """The ruled walls of other boxes in a crop: a thin band along each box's edges.

    Only this box's own walls are erased (:func:`remove_border_lines`); where boxes
    stand apart, a digit pushed across its wall can run into the next box's wall, which
    must not come with it. The band reaches a few pixels (a ruled line, anti-aliased,
    and a box edge found on the line rather than inside it) to either side of the
    edges, also of a box lying just outside the crop whose wall reaches into it, and
    stays out of ``near_box``, where this box's own walls lie.
    """
    radius = max(2, round(0.06 * side))
    band = np.zeros(near_box.shape, np.uint8)
    # a line drawn t thick covers t + 2 pixels across
    cv2.polylines(band, list(np.round(corners).astype(np.int32)), True, 1, 2 * radius - 1)
    return band.astype(bool) & ~near_box


def _hysteresis(contrast: np.ndarray, low: float, high: float) -> np.ndarray:
    """Pixels above ``low`` connected (8-way) to a pixel above ``high``."""
    weak = (contrast > low).astype(np.uint8)
    n, labels = cv2.connectedComponents(weak, connectivity=8)
    strong = np.zeros(n, bool)
    strong[np.unique(labels[contrast > high])] = True
    strong[0] = False
    return strong[labels]


@dataclass(frozen=True)
class _Box:
    """One crop after thresholding and line removal: its ink components and where each lies.

    Attributes
    ----------
    contrast : np.ndarray
        float32 (h, w) darkness above the paper level; ``low`` its stroke threshold.
    pad : int
        Margin (pixels) around the box interior.
    near_box : np.ndarray
        bool (h, w): where the digit may lie (:func:`remove_border_lines`).
    walls : np.ndarray
        int8 (h, w): the box's wall whose line each pixel was erased with, 0 for none
        (``erased`` of :class:`Unruled`).
    other_walls : np.ndarray
        bool (h, w): where the walls of the grid's other boxes lie, away from this box
        (:func:`_other_walls`).
    others : np.ndarray
        int32 (h, w): the grid's other boxes in the crop, by number (:func:`_box_map`).
    labels : np.ndarray
        int32 (h, w): the component of every ink pixel, 0 for paper.
    stats : np.ndarray
        int32 (n, 5) OpenCV statistics of the components (label 0 is the paper).
    own : np.ndarray
        (n,) pixels of each component inside this box.
    foreign, neighbour : np.ndarray
        (n,) pixels inside the other box that holds most of the component, and that
        box's number in the map of other boxes (0: none).
    crossed : np.ndarray
        bool (n,): the component crosses a ruled line.
    candidate : np.ndarray
        bool (n,): large enough for a stroke and not a wall remnant.
    """

    contrast: np.ndarray
    low: float
    pad: int
    near_box: np.ndarray
    walls: np.ndarray
    other_walls: np.ndarray
    others: np.ndarray
    labels: np.ndarray
    stats: np.ndarray
    own: np.ndarray
    foreign: np.ndarray
    neighbour: np.ndarray
    crossed: np.ndarray
    candidate: np.ndarray

    @property
    def side(self) -> int:
        """The box interior's short side (pixels)."""
        return min(self.labels.shape) - 2 * self.pad


@dataclass(frozen=True)
class _Ink:
    """The ink of one crop with its ruled lines removed (:func:`_ink`).

    ``contrast``, ``low`` and ``pad`` are as in :class:`_Box`; ``lines`` is what
    :func:`remove_border_lines` left.
    """

    contrast: np.ndarray
    low: float
    pad: int
    lines: Unruled


def _ink(crop: np.ndarray, pad_fraction: float) -> _Ink:
    """Find the ink of a crop (hysteresis over the measured noise), less its ruled lines."""
    gray = np.asarray(crop, np.float32)
    if gray.ndim == 3:
        gray = cv2.cvtColor(gray, cv2.COLOR_BGR2GRAY)
        crop = gray.astype(np.uint8)
    h, w = gray.shape
    pad = int(round(pad_fraction * max(h, w)))
    p50, p75, paper = _percentiles(crop, (50, 75, 90))
    sigma = max(0.0, float(p75 - p50)) / 0.6745
    contrast = np.clip(paper - gray, 0, None)
    low, high = max(MIN_LOW, 3.0 * sigma), max(MIN_HIGH, 5.0 * sigma)
    return _Ink(contrast, low, pad, remove_border_lines(_hysteresis(contrast, low, high), pad))


def _segment(
    ink: _Ink, neighbours: tuple[np.ndarray, np.ndarray], bridge: np.ndarray | None = None
) -> _Box:
    """Measure the ink components of a crop (:func:`_ink`): where each lies, which cross.

    ``neighbours`` are the corners and numbers of the grid's other boxes in the crop
    (:func:`_grid_neighbours`); ``bridge`` joins components (:func:`_components`), and
    so does the band where a stroke slants through the top or bottom wall (``slants``
    of :class:`Unruled`; the joined stroke counts as crossing that wall). A
    component must reach into the box, span at least 15 % of it (a speck is a compact
    dot) and not be a wall remnant (:func:`wall_remnants`) to be a candidate for the
    digit.
    """
    pad, lines = ink.pad, ink.lines
    h, w = lines.mask.shape
    others = _box_map(*neighbours, (h, w))
    slanting = lines.slants.any()
    if slanting:
        bridge = lines.slants if bridge is None else bridge | lines.slants
    n, labels, stats = _components(lines.mask, bridge)
    inner = labels[pad : h - pad, pad : w - pad]
    own = np.bincount(inner.ravel(), minlength=n)
    beyond = others > 0
    beyond[pad : h - pad, pad : w - pad] = False
    boxes = int(others.max()) + 1
    per_box = np.bincount(labels[beyond] * boxes + others[beyond], minlength=n * boxes)
    per_box = per_box.reshape(n, boxes)
    neighbour = per_box.argmax(axis=1)
    crossed = np.zeros(n, bool)
    crossed[labels[lines.crossings]] = True
    if slanting:
        crossed[labels[_grown(lines.slants)]] = True
    side = min(h, w) - 2 * pad
    extent = np.maximum(stats[:, cv2.CC_STAT_WIDTH], stats[:, cv2.CC_STAT_HEIGHT])
    candidate = (
        (own > 0) & (stats[:, cv2.CC_STAT_AREA] >= 0.004 * side * side) & (extent >= 0.15 * side)
    )
    candidate[0] = False
    candidate &= ~wall_remnants(inner, candidate, lines.found)
    foreign = per_box[np.arange(n), neighbour]
    return _Box(
        ink.contrast,
        ink.low,
        pad,
        lines.near_box,
        lines.erased,
        _other_walls(neighbours[0], lines.near_box, w - 2 * pad),
        others,
        labels,
        stats,
        own,
        foreign,
        neighbour,
        crossed,
        candidate,
    )


def _components(mask: np.ndarray, bridge: np.ndarray | None) -> tuple[int, np.ndarray, np.ndarray]:
    """The 8-connected components of ``mask``: their number, labels and OpenCV statistics.

    ``bridge`` (bool, mask shape, or None) joins the components it touches into one,
    without becoming ink itself.
    """
    if bridge is None:
        n, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8))
        return n, labels, stats
    n, labels = cv2.connectedComponents((mask | bridge).astype(np.uint8), connectivity=8)
    labels = np.where(mask, labels, 0).astype(np.int32)
    ys, xs = np.nonzero(labels)
    ids = labels[ys, xs]
    h, w = mask.shape
    low = np.stack([np.full(n, w), np.full(n, h)])
    high = np.zeros((2, n), np.int64)
    for k, v in enumerate((xs, ys)):
        np.minimum.at(low[k], ids, v)
        np.maximum.at(high[k], ids, v + 1)
    area = np.bincount(ids, minlength=n)
    # bridge-only components have no ink: an empty box at the origin
    low[:, area == 0] = high[:, area == 0] = 0
    stats = np.column_stack([low[0], low[1], high[0] - low[0], high[1] - low[1], area])
    return n, labels, stats.astype(np.int32)


def _strokes_beside(boxes: list[_Box], matrices: list[np.ndarray], i: int) -> np.ndarray:
    """Where the crops of the boxes beside box ``i`` see a stroke reach into box ``i``.

    Each crop is resampled on its own grid and erases the wall between two boxes on its
    own estimate of the line, so a stroke across that wall can be whole in one crop
    and in two pieces in the other. The pieces would then go separate ways (one to
    each box, :func:`_owned`). Carried into the crop of box ``i`` and widened by a
    pixel, the neighbours' strokes join such pieces again (``bridge`` of
    :func:`_segment`). Returns bool, crop shape.
    """
    seen = _carried(boxes, matrices, i, lambda j: _reaching(boxes[j], i))
    return _grown(seen)


def _carried(
    boxes: list[_Box],
    matrices: list[np.ndarray],
    i: int,
    pick: Callable[[int], np.ndarray | None],
) -> np.ndarray:
    """Components of the boxes beside box ``i``, carried into its crop (bool, crop shape).

    ``pick(j)`` says which components of box ``j`` (bool per label, or None for none).
    """
    h, w = boxes[i].labels.shape
    out = np.zeros((h, w), np.uint8)
    for j in (i - 1, i + 1):
        chosen = pick(j) if 0 <= j < len(boxes) else None
        if chosen is not None and chosen.any():
            m = matrices[i] @ np.linalg.inv(matrices[j])
            seen = chosen[boxes[j].labels].astype(np.uint8)
            out |= cv2.warpPerspective(seen, m, (w, h), flags=cv2.INTER_NEAREST)
    return out.astype(bool)


def _owned(box: _Box, given: np.ndarray | None) -> np.ndarray:
    """Which components belong to this box (bool per label).

    A stroke that crosses a wall belongs to the box that holds most of it: a digit
    pushed across the wall stays whole in its own box, and the neighbour box it reaches
    into drops it. Ink outside every box (above or below the row) is nobody's, so a
    digit pushed mostly out of the row is still its box's, as long as a quarter of it
    lies inside or between the box and its walls (a letter of the label beside the
    grid that touches a wall does not; a "1" lying across the row's last wall does).
    The row can settle a shared stroke otherwise (``given``, per label: 1 this box
    takes it, 0 it leaves it, -1 the rule above; None: nothing settled, see
    :func:`_settle`). Ink that crosses no wall must lie mostly inside the box, or
    between it and its walls (a speck or a stray mark in the margin does not).
    """
    crossing = box.own >= box.foreign
    if given is not None:
        crossing = np.where(given >= 0, given == 1, crossing)
    area = box.stats[:, cv2.CC_STAT_AREA]
    # up to the walls: a box's quad can stop a few pixels short of them
    near = np.bincount(box.labels[box.near_box], minlength=len(area))
    return np.where(box.crossed, crossing & (near >= 0.25 * area), near >= 0.5 * area)


def _settle(
    boxes: list[_Box], matrices: list[np.ndarray], digits: list[int | None], declined: np.ndarray
) -> list[np.ndarray]:
    """Which box each shared stroke (:func:`_shared`) goes to: ``given`` of :func:`_owned`.

    When only one of the two boxes holds a digit of its own (``digits``: the label of
    each box's own digit, :func:`_own_digit`), the stroke goes to the other one: it is
    that box's digit, pushed across. Unless it is the very digit the other box holds,
    seen by a box whose crop cuts it short: the majority rule then decides. A box that
    took shared strokes and still came out empty (``declined``, bool per box) gives
    them back, and its neighbour takes them: they are part of the neighbour's digit.
    """
    holds = np.array([False] + [d is not None for d in digits])
    gives_back = np.concatenate([[False], declined])
    out = []
    for i, box in enumerate(boxes):
        given = np.full(len(box.stats), -1, np.int8)
        shared = _shared(box)
        theirs = holds[box.neighbour]
        rule = shared & (holds[i + 1] != theirs)
        given[rule] = theirs[rule]
        taken = rule & theirs
        if taken.any():
            given[taken & _claimed(boxes, matrices, digits, i)] = -1
        given[shared & gives_back[box.neighbour]] = 1
        if declined[i]:
            given[shared] = 0
        out.append(given)
    return out


def _claimed(
    boxes: list[_Box], matrices: list[np.ndarray], digits: list[int | None], i: int
) -> np.ndarray:
    """Components of box ``i`` that are mostly a neighbour's own digit (bool per label)."""

    def digit(j: int) -> np.ndarray | None:
        return None if digits[j] is None else np.arange(len(boxes[j].stats)) == digits[j]

    box = boxes[i]
    seen = _carried(boxes, matrices, i, digit)
    covered = np.bincount(box.labels[seen], minlength=len(box.stats))
    return covered >= 0.5 * box.stats[:, cv2.CC_STAT_AREA]


def _dropped(
    boxes: list[_Box], matrices: list[np.ndarray], given: list[np.ndarray], empty: np.ndarray
) -> list[np.ndarray]:
    """Strokes that an empty box takes back from a neighbour that drops them (bool per
    label, one array per box).

    The majority rule (:func:`_owned`) gives a stroke across a wall to the box that
    holds most of it. A digit pushed a third of the way or more across can lie mostly
    in the next box; when that box holds a digit of its own, the stroke is not part of
    it and is dropped there, and its own box, empty without it, reads blank with
    certainty. So a shared candidate of an empty box that the neighbour holding most of
    it does not keep in its digit (less than half of it under that digit, carried into
    this crop) comes back.
    """
    kept: dict[int, np.ndarray | None] = {}

    def digit(j: int) -> np.ndarray | None:
        if j not in kept:
            kept[j] = None if empty[j] else _kept(boxes[j], given[j])
        return kept[j]

    written = np.concatenate([[False], ~empty])  # by box number (box j is j + 1)
    out = []
    for i, box in enumerate(boxes):
        loose = np.zeros(len(box.stats), bool)
        if empty[i]:
            loose = box.candidate & _shared(box) & ~_owned(box, given[i])
            loose &= written[box.neighbour]
        if not loose.any():
            out.append(loose)
            continue
        seen = _carried(boxes, matrices, i, digit)
        covered = np.bincount(box.labels[seen], minlength=len(box.stats))
        out.append(loose & (covered < 0.5 * box.stats[:, cv2.CC_STAT_AREA]))
    return out


def _kept(box: _Box, given: np.ndarray) -> np.ndarray | None:
    """The components of a box's digit as cleaned (bool per label), None when empty."""
    owned = _owned(box, given)
    main = _main_part(box, owned)
    if main is None:
        return None
    keep = np.zeros(len(box.stats), bool)
    keep[np.unique(box.labels[_digit_mask(box, main, owned)[0]])] = True
    keep[0] = False
    return keep


def _main_part(box: _Box, owned: np.ndarray) -> int | None:
    """The largest owned candidate, if it looks like a digit in this box.

    Its part within the box, off the lines of the box's edges, must span 30 % of the
    box: a digit is never smaller, and a speck sitting on a wall, joined to a speck
    beyond it or to what is left of the wall, is.
    """
    candidate = box.candidate & owned
    if not candidate.any():
        return None
    main = int(np.argmax(np.where(candidate, box.stats[:, cv2.CC_STAT_AREA], -1)))
    x, y, w, h = box.stats[main, :4]
    window = np.s_[y : y + h, x : x + w]
    part = (box.labels[window] == main) & box.near_box[window] & _off_walls(box, x, y, w, h)
    ys, xs = np.nonzero(part)
    if len(ys) == 0 or max(ys.max() - ys.min(), xs.max() - xs.min()) + 1 < 0.3 * box.side:
        return None
    return main


def _shared(box: _Box) -> np.ndarray:
    """Components shared with another box: a fifth or more of their in-box ink is there."""
    return box.foreign > 0.25 * box.own


def _own_digit(box: _Box) -> int | None:
    """The label of the box's own digit, one that it shares with no other box, if any."""
    return _main_part(box, _owned(box, None) & ~_shared(box))


def _digit_mask(box: _Box, main: int, owned: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The main component and the owned candidates that join it: close, not tiny and
    not a speck on a wall (:func:`_speck_on_a_wall`); and which of those are dots.

    Joining keeps the separate strokes of a 4, 5 or 7. A dot beside the digit (no
    longer than 3.5 times its half-thickness) may be a stroke cut short, such as the
    bar of a 7 written as a blob, or a speck: the reader weighs both readings
    (:func:`idreader.cell_split.prior_weights`).
    """
    stats, side = box.stats, box.side
    area = stats[:, cv2.CC_STAT_AREA]
    keep = np.zeros(len(stats), bool)
    dots = np.zeros(len(stats), bool)
    keep[main] = True
    x0, y0 = stats[main, cv2.CC_STAT_LEFT], stats[main, cv2.CC_STAT_TOP]
    x1, y1 = x0 + stats[main, cv2.CC_STAT_WIDTH], y0 + stats[main, cv2.CC_STAT_HEIGHT]
    for i in np.flatnonzero(box.candidate & owned):
        if i == main:
            continue
        cx0, cy0 = stats[i, cv2.CC_STAT_LEFT], stats[i, cv2.CC_STAT_TOP]
        cx1, cy1 = cx0 + stats[i, cv2.CC_STAT_WIDTH], cy0 + stats[i, cv2.CC_STAT_HEIGHT]
        gap = max(0, x0 - cx1, cx0 - x1, y0 - cy1, cy0 - y1)
        joins = gap <= 0.25 * side and area[i] >= 0.06 * area[main] or area[i] >= 0.4 * area[main]
        # the speck tests (a distance transform) only for what would join
        keep[i] = joins and not _speck_on_a_wall(box, i)
        dots[i] = keep[i] and _is_dot(box.labels[cy0:cy1, cx0:cx1] == i)
    # Line remnants hang off the digit into the margin: keep only what is near the box,
    # unless the stroke crosses a line (then it is all the digit's, but for the walls
    # of other boxes it runs into).
    crossing = box.crossed[box.labels] & ~box.other_walls
    where = box.near_box | crossing
    return keep[box.labels] & where, dots[box.labels] & where


def _off_walls(box: _Box, x: int, y: int, w: int, h: int) -> np.ndarray:
    """bool (h, w): which pixels of a window of the crop lie more than two pixels off
    the lines of the box's edges (where what is left of an erased wall lies)."""
    rows, cols = np.arange(y, y + h), np.arange(x, x + w)
    crop_h, crop_w = box.labels.shape
    off_rows = (np.abs(rows - box.pad) > 2) & (np.abs(rows - (crop_h - box.pad)) > 2)
    off_cols = (np.abs(cols - box.pad) > 2) & (np.abs(cols - (crop_w - box.pad)) > 2)
    return off_rows[:, None] & off_cols


def _speck_on_a_wall(box: _Box, label: int) -> bool:
    """Whether a component is a speck on a wall, with a sliver of the wall's rim.

    The sliver lies on a line of the box's edges (within two pixels) and runs along it
    further than the speck is wide; the speck is what lies off the lines, a quarter of
    the component or more, and is a dot (:func:`_is_dot`). A dot that merely touches a
    line is left to the reader, as is one away from the walls (:func:`_digit_mask`).
    """
    x, y, w, h = box.stats[label, :4]
    component = box.labels[y : y + h, x : x + w] == label
    off = _off_walls(box, x, y, w, h)
    piece, sliver = component & off, component & ~off
    if not sliver.any() or 4 * int(piece.sum()) < box.stats[label, cv2.CC_STAT_AREA]:
        return False
    ys, xs = np.nonzero(sliver)
    return _is_dot(piece) and max(np.ptp(ys), np.ptp(xs)) + 1 >= 2 * _extent(piece)


def _extent(mask: np.ndarray) -> int:
    """The longer side of the bounding box of a non-empty mask."""
    ys, xs = np.nonzero(mask)
    return int(max(np.ptp(ys), np.ptp(xs))) + 1


def _is_dot(mask: np.ndarray) -> bool:
    """Whether ink (a non-empty mask) is a dot: no longer than 3.5 times its half-thickness
    (a stroke is several times longer than it is thick, even a short piece of one)."""
    return _extent(mask) <= 1.75 * _thickness(mask)


def _thickness(mask: np.ndarray) -> float:
    """Twice the largest distance from a pixel of ``mask`` to its edge: the width of
    its thickest part."""
    return 2 * float(cv2.distanceTransform(np.pad(mask.astype(np.uint8), 1), cv2.DIST_L2, 3).max())


def _empty() -> _Reading:
    """The reading of a box without a digit."""
    return (np.zeros((28, 28), np.float32), 0.0, 1.0, False)


def _finish(box: _Box, given: np.ndarray | None) -> list[_Reading]:
    """The readings of a segmented box (see :func:`_owned`): MNIST-style image, ink
    fraction, prior odds against the first reading and whether a line was given back.

    The first reading is the box as cleaned. When dots joined its digit
    (:func:`_digit_mask`), the same without them follows; when the digit runs into a
    wall, each of those again with the line's pixels there given back
    (:func:`_wall_strokes`). A box without a digit is empty, and is read also with a
    stroke that lies along a side wall given back (:func:`_one_on_a_wall`). Pieces
    that may be a digit broken apart are also read joined up, to the digit if there
    is one (:func:`_broken_digit`), and a digit that crosses the row's edge with the
    strokes beside it outside the row (:func:`_strokes_outside`). (Two digits run
    together across a wall are read in cuts instead, :func:`_split`.)
    """
    owned = _owned(box, given)
    main = _main_part(box, owned)
    if main is None:
        readings = [_empty()]
        joined = _broken_digit(box, owned)
        if joined is not None:
            readings.append((*_render(box, *joined), BROKEN_ODDS, False))
        one = _one_on_a_wall(box)
        if one.any():
            readings.append((*_render(box, one), WALL_ODDS, True))
        return readings
    keep, dots = _digit_mask(box, main, owned)
    # Each doubt doubles the readings, with its odds: the dots are specks (the main
    # component is never a dot, so some ink is left), a wall hides a stroke.
    variants = [(keep, 1.0, False)]
    if dots.any():
        variants.append((keep & ~dots, SPECK_ODDS, False))
    hidden, lying = _wall_strokes(box, keep)
    if hidden.any():
        wall = WALL_ODDS * (LYING_ODDS if lying else 1.0)
        variants += [(ink | hidden, odds * wall, True) for ink, odds, _ in variants]
    readings = [(*_render(box, ink), odds, walled) for ink, odds, walled in variants]
    joined = _broken_digit(box, owned, keep)
    if joined is not None:
        readings.append((*_render(box, *joined), BROKEN_ODDS, False))
    outside = _strokes_outside(box, keep)
    if outside.any():
        readings.append((*_render(box, keep | outside), OUTSIDE_ODDS, False))
    return readings


def _broken_digit(
    box: _Box, owned: np.ndarray, digit: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray] | None:
    """Pieces of ink that may be a digit a threshold broke apart, and the strokes that
    join them up (bool, crop shape each), or None.

    A faint digit on a binarised (fax-like) scan can come apart into dots and dashes.
    In a box without a digit none of them is big enough to be one (:func:`_main_part`):
    cleaned, the box is empty and reads blank with certainty, and an ID whose last digit
    that was reads as a shorter one. In a box with a digit (``digit``: its kept ink),
    what came apart from it is too small to join it and is dropped: a 5 without its bar
    reads 2. A digit lying on a wall is cut apart with the line where its strokes run
    along it (a 3 on a side wall falls into three arcs, none big enough to be a digit).
    So owned pieces that reach into the box's core (off its edges, where what is left
    of a wall lies), or that touch an erased line and are big enough for a stroke (not
    a wall remnant, :func:`_segment`), each no further than :data:`BROKEN_GAP` of the
    box from the next or from the digit, are read together, with the digit, as well
    when there are two or more of them and all the ink spans 30 % of the box, as a
    digit does
    (:data:`idreader.cell_split.BROKEN_ODDS`; one speck beside a digit is common, and
    not read). The model reads scattered dots as specks, so the pieces are joined by
    strokes as thick as they are (:func:`_join_pieces`), drawn at full ink where the
    scan has none.
    """
    h, w = box.labels.shape
    depth = box.pad + max(3, round(0.1 * box.side))
    core = np.zeros((h, w), bool)
    core[depth : h - depth, depth : w - depth] = True
    inside = np.bincount(box.labels[core], minlength=len(owned)) > 0
    on_a_line = np.bincount(box.labels[_grown(box.walls > 0)], minlength=len(owned)) > 0
    pieces = owned & (inside | (box.candidate & on_a_line))
    pieces[0] = False
    if digit is not None:
        pieces[np.unique(box.labels[digit])] = False
    if np.count_nonzero(pieces) < 2:
        return None
    ink = pieces[box.labels] & box.near_box
    both = ink if digit is None else ink | digit
    n, groups = cv2.connectedComponents(_within(both, box, BROKEN_GAP).astype(np.uint8))
    seed = ink if digit is None else digit
    largest = int(np.argmax(np.bincount(groups[seed], minlength=n)))
    group = both & (groups == largest)
    if len(np.unique(box.labels[group & ink])) < 2 or _extent(group) < 0.3 * box.side:
        return None
    return group, _join_pieces(group, box.labels) & ~group


def _join_pieces(ink: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """``ink`` (bool) with its pieces (``labels``) joined by the shortest straight strokes
    that connect them all (a minimum spanning tree over the pieces' nearest points), as
    thick as the pieces' median thickness.

    Examples
    --------
    >>> ink = np.zeros((20, 9), bool); ink[2:6, 3:6] = ink[11:15, 3:6] = True
    >>> labels = np.where(ink, np.arange(20)[:, None] // 10 + 1, 0)
    >>> joined = _join_pieces(ink, labels)
    >>> bool(joined[8, 4]), bool(joined[8, 0])
    (True, False)
    """
    masks = [ink & (labels == i) for i in np.unique(labels[ink])]
    points = [np.argwhere(m) for m in masks]
    k = len(points)
    gaps = np.full((k, k), np.inf)
    ends: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    for a in range(k):
        for b in range(a + 1, k):
            d = np.linalg.norm(points[a][:, None] - points[b][None], axis=2)
            i, j = np.unravel_index(int(np.argmin(d)), d.shape)
            gaps[a, b] = gaps[b, a] = d[i, j]
            ends[a, b] = ends[b, a] = points[a][i], points[b][j]
    width = max(1, int(round(float(np.median([_thickness(m) for m in masks])))))
    out = ink.astype(np.uint8)
    joined = [0]
    while len(joined) < k:
        edges = ((a, b) for a in joined for b in range(k) if b not in joined)
        a, b = min(edges, key=gaps.__getitem__)
        (y0, x0), (y1, x1) = ends[a, b]
        cv2.line(out, (int(x0), int(y0)), (int(x1), int(y1)), 1, width)
        joined.append(b)
    return out.astype(bool)


def _wall_strokes(box: _Box, keep: np.ndarray) -> tuple[np.ndarray, bool]:
    """The line pixels erased along each wall between the first and last place the kept
    ink touches it, and the ink beyond the wall that the stroke there led to (bool,
    crop shape).

    A stroke drawn on a ruled line is erased with the line: the bar of a 7 on the top
    line leaves a "1", the top of a 9's loop on it leaves a "4", and the model reads
    what is left with confidence. Ink cannot tell such a stroke from the line under it,
    but the digit's strokes that end on the line mark where one may lie: between them.
    A stroke can also leave the line on its far side, as the base of a 2 pushed down
    runs along the bottom line and ends below it: cut off from the digit with the line,
    that end lies outside the box and would be dropped. Ink beyond the wall, in no other
    box, that touches the line within the box's length marks one end of such a stroke
    too, and comes back with it. Given back, the line there is the stroke (a closed
    loop, a bar); the reader weighs that reading against the box as cleaned
    (:data:`idreader.cell_split.WALL_ODDS`).

    A stroke can also lie along the line past the last place the digit touches it, as
    the stem of a 6 or a 9 pushed onto a side wall does: nothing marks its end but the
    line, thickened by it (:func:`_lying`). Where such a thickening goes on from the
    span for :data:`LYING_LENGTH` of the box or more, the span goes on with it, and
    the reading is likelier (:data:`idreader.cell_split.LYING_ODDS`). Returns the
    pixels given back and whether such a stroke was seen.
    """
    touch = _grown(keep) & (box.walls > 0)
    hidden = np.zeros_like(keep)
    lying = False
    if not touch.any():
        return hidden, lying
    loose = _beyond_walls(box, keep)
    reach = _grown(loose) & (box.walls > 0)
    h, w = keep.shape
    pen = _erased_width(box.walls)
    for wall in np.unique(box.walls[touch]):
        erased = box.walls == wall
        # bottom and top walls run along rows, the right and left ones along columns
        along = 0 if wall <= 2 else 1
        inside = np.zeros(erased.shape[1 - along], bool)
        inside[box.pad : (w, h)[along] - box.pad] = True
        ends = (touch & erased).any(axis=along) | ((reach & erased).any(axis=along) & inside)
        at = np.flatnonzero(ends)
        span = np.zeros(erased.shape[1 - along], bool)
        span[at[0] : at[-1] + 1] = True
        along_stroke = _along_stroke(span, _lying(box, erased, along, pen))
        if np.count_nonzero(along_stroke & ~span) >= LYING_LENGTH * box.side:
            span, lying = along_stroke, True
        line = erased & (span[None, :] if along == 0 else span[:, None])
        ends_beyond = np.unique(box.labels[_grown(line) & loose])
        hidden |= line | (np.isin(box.labels, ends_beyond) & loose)
    return hidden, lying


def _lying(box: _Box, erased: np.ndarray, along: int, pen: float) -> np.ndarray:
    """Where along an erased line a stroke lies on it (bool per row or column).

    ``erased`` (bool, crop shape) is the line's band, running along rows (``along``
    0) or columns (1); ``pen`` is how wide the box's lines were erased, most places
    (:func:`_erased_width`). A stroke on the line thickens it, and line removal either
    keeps a sliver of it beside the band or takes it with the band. So a stroke lies
    there where the ink across the band (the crop's contrast above its stroke threshold,
    as it was before the line was erased) reaches at least :data:`LYING_EXTRA` pixels
    past the band, but not so far that it is a stroke crossing the line (no more than a
    pen's width further), or where the band was erased at least :data:`LYING_EXTRA` + 1
    pixels wider than the lines (a line's width wavers by a pixel or two where it is
    resampled). Not near the box's corners (:data:`LYING_CORNER`), where the walls
    across the line thicken it.
    """
    runs = _runs_across(box, erased, along)
    width = erased.sum(axis=along)
    beside = runs - width
    slivers = (beside >= LYING_EXTRA) & (beside <= pen + LYING_EXTRA)
    return _inner(box, len(width)) & (width > 0) & (slivers | (width >= pen + LYING_EXTRA + 1))


def _runs_across(box: _Box, erased: np.ndarray, along: int) -> np.ndarray:
    """How far the ink reaches across an erased line (``erased``, bool, crop shape,
    running along rows for ``along`` 0 and columns for 1) at each position along it:
    the longest run of the crop's contrast above its stroke threshold, across the
    line, through a pixel of the line (0 where the line has none)."""
    ink = box.contrast > box.low
    if along == 1:
        ink, erased = ink.T, erased.T
    # runs numbered column by column (column-major), so that none continues into the
    # next column
    starts = ink.copy()
    starts[1:] &= ~ink[:-1]
    ids = np.cumsum(starts.ravel(order="F")).reshape(ink.shape, order="F") * ink
    lengths = np.bincount(ids.ravel())
    lengths[0] = 0
    return np.where(erased, lengths[ids], 0).max(axis=0)


def _inner(box: _Box, n: int) -> np.ndarray:
    """Which of the ``n`` positions along a line of the crop lie off the box's corners
    (:data:`LYING_CORNER`), where the walls across the line thicken it."""
    corner = box.pad + max(2, round(LYING_CORNER * box.side))
    inner = np.zeros(n, bool)
    inner[corner : n - corner] = True
    return inner


def _one_on_a_wall(box: _Box) -> np.ndarray:
    """The erased line pixels where a stroke lies along a side wall for
    :data:`LYING_WHOLE` of the box or more (bool, crop shape; the longer of the two
    walls' such stretches).

    A 1 pushed onto a side wall is erased with the line: little of it is left, the
    box reads blank with certainty, and the ID is a digit short. Only the line,
    thickened along the stroke, tells it from a blank box: there the ink across the
    line (:func:`_runs_across`) is at least :data:`LYING_EXTRA` pixels wider than
    across the thinnest twentieth of the same line (the lines of a form differ in
    width: a table's frame, a grid's outer walls) and than across the other side wall,
    most places (a line's width drifts along it by a pixel or two), and reaches no further
    than :data:`LYING_REACH` of the box past it, nor touches ink as wide as that or
    ink that lies mostly in the box beside (that ink is a stroke running into the
    line, or lying on it from the other side: the digit of the box beside meets the
    wall). (Not :func:`_lying`, which also trusts the erased band's width: removal
    erases a line a pixel narrower or wider here and there, and over this length that
    is no evidence of a whole digit.)
    """
    runs = {wall: _runs_across(box, box.walls == wall, 1) for wall in (3, 4)}
    inner = _inner(box, box.walls.shape[0])
    reach = LYING_REACH * box.side
    away = (box.stats[:, cv2.CC_STAT_WIDTH] >= reach) | (box.foreign > box.own)
    away[0] = False
    strokes = _grown(away[box.labels])
    out = np.zeros(box.walls.shape, bool)
    longest = LYING_WHOLE * box.side
    for wall, other in ((3, 4), (4, 3)):  # the right and left walls, along columns
        here, there = (runs[w][inner & (runs[w] > 0)] for w in (wall, other))
        if not len(here) or not len(there):
            continue
        line = max(float(np.percentile(here, 5)), float(np.median(there)))
        erased = box.walls == wall
        thick = inner & (runs[wall] >= line + LYING_EXTRA) & (runs[wall] <= line + reach)
        stretch = _longest_stretch(thick & ~(strokes & erased).any(axis=1))
        if np.count_nonzero(stretch) >= longest:
            out, longest = erased & stretch[:, None], np.count_nonzero(stretch)
    return out


def _longest_stretch(lying: np.ndarray) -> np.ndarray:
    """The longest stretch of ``lying`` (bool per row or column) across gaps of up to
    :data:`LYING_GAP` positions.

    Examples
    --------
    >>> lying = np.zeros(20, bool)
    >>> lying[[2, 3, 9, 10, 12, 13, 14]] = True
    >>> np.flatnonzero(_longest_stretch(lying)).tolist()
    [9, 10, 11, 12, 13, 14]
    """
    at = np.flatnonzero(lying)
    out = np.zeros_like(lying)
    if not len(at):
        return out
    breaks = np.flatnonzero(np.diff(at) > LYING_GAP + 1)
    starts, ends = at[np.r_[0, breaks + 1]], at[np.r_[breaks, len(at) - 1]]
    k = int(np.argmax(ends - starts))
    out[starts[k] : ends[k] + 1] = True
    return out


def _erased_width(walls: np.ndarray) -> float:
    """How wide the lines of a box were erased, most places: the median over each wall's
    rows or columns (``walls``: :attr:`_Box.walls`)."""
    widths = [
        count
        for wall in range(1, 5)
        for count in (walls == wall).sum(axis=0 if wall <= 2 else 1)
        if count > 0
    ]
    return float(np.median(widths)) if widths else 0.0


def _along_stroke(span: np.ndarray, lying: np.ndarray) -> np.ndarray:
    """``span`` (bool per row or column) grown at each end over the stretches where a
    stroke lies on the line (``lying``) that start there, across gaps of up to
    :data:`LYING_GAP` positions.

    Examples
    --------
    >>> span, lying = np.zeros(20, bool), np.zeros(20, bool)
    >>> span[5:8] = True
    >>> lying[[9, 10, 11, 16]] = True  # a stroke from 9 to 11; 16 is too far
    >>> np.flatnonzero(_along_stroke(span, lying)).tolist()
    [5, 6, 7, 8, 9, 10, 11]
    """
    grown = span.copy()
    at = np.flatnonzero(span)
    for step, start in ((-1, at[0]), (1, at[-1])):
        gap, i = 0, start + step
        while 0 <= i < len(span) and gap <= LYING_GAP:
            if lying[i]:
                lo, hi = sorted((start, i))
                grown[lo : hi + 1] = True
                start, gap = i, 0
            else:
                gap += 1
            i += step
    return grown


def _strokes_outside(box: _Box, keep: np.ndarray) -> np.ndarray:
    """Strokes outside the row, near a digit that crosses into it (bool, crop shape).

    A digit pushed out of the row across its top or bottom wall keeps the strokes that
    cross the line, but a stroke written apart from them lies wholly beyond it (the bar
    of a 5 above the row): nobody's ink, dropped, and the 5 reads 6. When the kept ink
    crosses a wall, strokes outside every box (:func:`_beyond_walls`) within
    :data:`OUTSIDE_GAP` of it are read with it too
    (:data:`idreader.cell_split.OUTSIDE_ODDS`).
    """
    if not box.crossed[np.unique(box.labels[keep])].any():
        return np.zeros_like(keep)
    loose = _beyond_walls(box, keep)
    near = _within(keep, box, OUTSIDE_GAP)
    return loose & np.isin(box.labels, box.labels[near & loose])


def _within(mask: np.ndarray, box: _Box, gap: float) -> np.ndarray:
    """Where lies within ``gap`` of the box's side of ``mask`` (bool, crop shape)."""
    reach = 2 * max(1, round(gap * box.side / 2)) + 1
    disc = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (reach, reach))
    return cv2.dilate(mask.astype(np.uint8), disc).astype(bool)


def _grown(mask: np.ndarray) -> np.ndarray:
    """``mask`` (bool) and the pixels touching it (8-way)."""
    return cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)


def _beyond_walls(box: _Box, keep: np.ndarray) -> np.ndarray:
    """Strokes not kept that lie mostly outside the box and outside every other box
    (bool, crop shape): above or below the row, or past its end. Dots are left out: a
    speck just past the line is no stroke's end."""
    labels = box.labels
    area = box.stats[:, cv2.CC_STAT_AREA]
    near = np.bincount(labels[box.near_box], minlength=len(area))
    elsewhere = np.bincount(labels[box.others > 0], minlength=len(area))
    # (a component of a bridge alone has no ink, :func:`_components`)
    out = (area > 0) & (near < 0.5 * area) & (elsewhere < 0.5 * area)
    out[0] = False
    out[np.unique(labels[keep])] = False
    for i in np.flatnonzero(out):
        x, y, w, h = box.stats[i, :4]
        out[i] = not _is_dot(labels[y : y + h, x : x + w] == i)
    return out[labels]


def _render(
    box: _Box, keep: np.ndarray, drawn: np.ndarray | None = None
) -> tuple[np.ndarray, float]:
    """The MNIST-style image of the kept ink of a box, and its ink fraction; ``drawn``
    (bool, or None) are strokes added where the scan has none, at full ink."""
    soft = _soft(box, keep)
    if drawn is None:
        return to_mnist(soft), _ink_fraction(box, keep)
    return to_mnist(np.maximum(soft, drawn)), _ink_fraction(box, keep | drawn)


def _soft(box: _Box, keep: np.ndarray) -> np.ndarray:
    """float (h, w) in [0, 1]: the kept ink of a crop, its core at 1."""
    # Anti-aliased edges: include the soft rim of kept strokes, scale the core to 1.
    rim = _grown(keep)
    level = float(np.percentile(box.contrast[keep], 90))
    low = box.low
    return np.clip((box.contrast - 0.5 * low) / max(level - 0.5 * low, 1.0), 0.0, 1.0) * rim


def _ink_fraction(box: _Box, keep: np.ndarray) -> float:
    """The fraction of the box interior that the kept ink (bool, crop shape) covers."""
    h, w = keep.shape
    return float(keep[box.pad : h - box.pad, box.pad : w - box.pad].mean())


def _touching_pairs(
    boxes: list[_Box],
    matrices: list[np.ndarray],
    quads: np.ndarray,
    empty: np.ndarray,
    given: list[np.ndarray],
) -> list[tuple[int, tuple[int, int], np.ndarray]]:
    """Digits of two neighbouring boxes that touch across their wall, run into one stroke.

    Box ``a`` and the box right of it each see one stroke cross the wall between them
    and reach into the other; it is the same stroke when what the two crops see of it
    mostly coincides. It is two digits when it is wider than nine tenths of a box (one
    digit is narrower), or when giving it to one box leaves the other ``empty`` with a
    written box further right (an ID has no gaps; two digits can overlap so much that
    they are not wider than one), or when both boxes keep it (``given``: the row's
    settlement, :func:`_settle`; each crop saw most of it inside its own box, which
    one digit alone does not do). Returns (a, the stroke's label in each of the two
    crops, the matrix from the left crop to the right one), at most one pair per box.
    """
    axis = np.mean(quads[:, 1] - quads[:, 0], axis=0)
    axis /= max(float(np.linalg.norm(axis)), 1e-9)
    # a gap: an empty box with a written box somewhere right of it
    gap = empty & (np.cumsum(~empty[::-1])[::-1] > 0)
    pairs: list[tuple[int, tuple[int, int], np.ndarray]] = []
    for a in range(len(boxes) - 1):
        b = a + 1
        labels = (_crossing(boxes[a], b), _crossing(boxes[b], a))
        if (pairs and pairs[-1][0] == a - 1) or labels[0] is None or labels[1] is None:
            continue
        m = matrices[b] @ np.linalg.inv(matrices[a])
        if not _same_stroke(boxes[a], labels[0], boxes[b], labels[1], m):
            continue
        ends = np.concatenate(
            [_row_span(boxes[k], labels[k - a], matrices[k], axis) for k in (a, b)]
        )
        side = float(np.linalg.norm(quads[[a, b], 1] - quads[[a, b], 0], axis=1).mean())
        both = _owned(boxes[a], given[a])[labels[0]] and _owned(boxes[b], given[b])[labels[1]]
        if ends.max() - ends.min() > 0.9 * side or gap[a] or gap[b] or both:
            pairs.append((a, (labels[0], labels[1]), m))
    return pairs


def _reaching(box: _Box, other: int) -> np.ndarray:
    """Candidate strokes of a box that cross a wall into box ``other`` (bool per label)."""
    return box.candidate & box.crossed & (box.foreign > 0) & (box.neighbour == other + 1)


def _crossing(box: _Box, other: int) -> int | None:
    """The largest candidate stroke of a box that crosses a wall into box ``other``."""
    reaching = _reaching(box, other)
    if not reaching.any():
        return None
    return int(np.argmax(np.where(reaching, box.stats[:, cv2.CC_STAT_AREA], -1)))


def _same_stroke(left: _Box, a: int, right: _Box, b: int, m: np.ndarray) -> bool:
    """Whether component ``a`` of the left crop is component ``b`` of the right one.

    ``m`` maps the left crop to the right one; where both crops see the stroke, most
    of it must be the same pixels.
    """
    h, w = right.labels.shape
    seen = cv2.warpPerspective(
        (left.labels == a).astype(np.uint8), m, (w, h), flags=cv2.INTER_NEAREST
    ).astype(bool)
    return int(seen.sum()) > 0 and int((seen & (right.labels == b)).sum()) >= 0.5 * int(seen.sum())


def _with_stroke(box: _Box, given: np.ndarray | None, label: int) -> np.ndarray | None:
    """bool (h, w): a box's digit as :func:`_finish` keeps it, with the whole of the
    stroke ``label`` that it shares with its neighbour (:func:`_touching_pairs`); None
    when the box holds no digit even with it."""
    owned = _owned(box, given)
    owned[label] = True
    main = _main_part(box, owned)
    return None if main is None else _digit_mask(box, main, owned)[0]


def _cut_reading(box: _Box, keep: np.ndarray | None, label: int, side: np.ndarray) -> _Reading:
    """A box's reading of one cut: its digit (:func:`_with_stroke`) with only its own
    ``side`` (bool, crop shape) of the shared stroke ``label``."""
    if keep is not None:
        keep = keep & (side | (box.labels != label))
    if keep is None or not keep.any():
        return _empty()
    return (*_render(box, keep), 1.0, False)


def _split(
    left: _Box,
    right: _Box,
    labels: tuple[int, int],
    m: np.ndarray,
    keeps: tuple[np.ndarray | None, np.ndarray | None],
) -> list[tuple[_Reading, _Reading]]:
    """Every distinct cut of a touching pair (:func:`seam_sides`): both boxes' reading.

    ``m`` maps the left crop to the right one. A cut left of the wall is found in the
    left crop and one right of it in the right crop, each of which sees the whole of
    its own box; it is carried into the other crop, beyond which lies the ground of the
    box it was found in. Two digits pushed toward each other can also overlap: no one
    cut parts them, but two do, the right box's digit starting at the first and the
    left box's ending at the second, the ink between them read in both boxes (at most
    :data:`OVERLAP` of a box apart). Cuts that divide the stroke alike, but for a
    twentieth of it, are one cut (the first one). ``keeps`` are both boxes' digits with
    the whole stroke (:func:`_with_stroke`).
    """
    frames = ((left, m), (right, np.linalg.inv(m)))
    strokes = (left.labels == labels[0], right.labels == labels[1])
    total = int(strokes[0].sum() + strokes[1].sum())
    # (aim, the left crop's side of the cut, the right crop's side), left to right
    seams: list[tuple[float, np.ndarray, np.ndarray]] = []
    for k, (box, to_other) in enumerate(frames):
        h, w = box.labels.shape
        wall = float(w - box.pad if k == 0 else box.pad)
        other = frames[1 - k][0].labels.shape[::-1]
        for offset in (o for o in OFFSETS if (o <= 0) == (k == 0)):
            for side in seam_sides(strokes[k], wall, float(w - 2 * box.pad), (offset,)):
                carried = cv2.warpPerspective(
                    side.astype(np.uint8), to_other, other, flags=cv2.INTER_NEAREST, borderValue=k
                ).astype(bool)
                seams.append((offset, *((side, carried) if k == 0 else (carried, side))))
    # one cut (as proposed: the wall first), then the overlaps
    pairs = [(i, i) for i in range(len(seams))]
    pairs += [
        (i, j)
        for i, j in itertools.combinations(sorted(range(len(seams)), key=lambda i: seams[i][0]), 2)
        if 0 < seams[j][0] - seams[i][0] <= OVERLAP
    ]
    cuts, divisions = [], []
    for i, j in pairs:
        division = (strokes[0] & seams[j][1], strokes[1] & ~seams[i][2])
        if any(
            int((d[0] ^ division[0]).sum() + (d[1] ^ division[1]).sum()) < 0.05 * total
            for d in divisions
        ):
            continue
        divisions.append(division)
        cuts.append(
            (
                _cut_reading(left, keeps[0], labels[0], seams[j][1]),
                _cut_reading(right, keeps[1], labels[1], ~seams[i][2]),
            )
        )
    return cuts


def _pair(
    left: _Box,
    right: _Box,
    crops: tuple[np.ndarray, np.ndarray],
    labels: tuple[int, int],
    m: np.ndarray,
    keeps: tuple[np.ndarray | None, np.ndarray | None],
) -> np.ndarray:
    """The pair model's view of a touching pair (:data:`idreader.cell_split.PAIR_SHAPE`):
    each box's digit with the whole shared stroke (``keeps``, :func:`_with_stroke`), and
    both boxes' ``crops`` as scanned, walls and all (:func:`idreader.cell_split.pair_view`)."""
    inks = []
    for box, label, keep in zip((left, right), labels, keeps, strict=True):
        stroke = box.labels == label
        inks.append(_soft(box, stroke if keep is None else stroke | keep))
    scanned = [scanned_ink(crop) for crop in crops]
    return np.stack(
        [pair_view(inks[0], inks[1], m, left.pad), pair_view(scanned[0], scanned[1], m, left.pad)]
    )


def _row_span(box: _Box, label: int, m: np.ndarray, axis: np.ndarray) -> np.ndarray:
    """Where a component's bounding box lies along the row (page units; ``m``: page to crop)."""
    x, y, w, h = box.stats[label, :4]
    corners = np.float32([[x, y], [x + w, y], [x + w, y + h], [x, y + h]]).reshape(-1, 1, 2)
    return cv2.perspectiveTransform(corners, np.linalg.inv(m)).reshape(-1, 2) @ axis


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
        of :func:`box_crop` (:data:`PAD_FRACTION`).

    Returns
    -------
    image : np.ndarray
        float32 (28, 28) in [0, 1], white ink on black; all zero for an empty box.
    ink : float
        Fraction of the box interior covered by kept ink.

    Notes
    -----
    A lone crop is taken for a box in a row, with neighbour boxes left and right of it;
    :func:`clean_cells` knows where the grid's boxes really are.

    Examples
    --------
    >>> blank = np.full((96, 96), 235, np.uint8)
    >>> img, ink = clean_cell(blank)
    >>> float(img.max()), ink
    (0.0, 0.0)
    """
    if pad_fraction is None:
        pad_fraction = PAD_FRACTION
    h, w = np.shape(crop)[:2]
    neighbours = _row_neighbours((h, w), int(round(pad_fraction * max(h, w))))
    image, ink, _, _ = _finish(_segment(_ink(crop, pad_fraction), neighbours), None)[0]
    return image, ink


def clean_cells(image: np.ndarray, grid: IDGrid) -> Cells:
    """Clean every box of a grid.

    Like :func:`clean_cell` on each box's :func:`box_crop`, except that the boxes are
    seen together: ink that reaches from one box into another goes to one of them
    (:func:`_owned`; back to an empty box when the other drops it, :func:`_dropped`),
    and two digits run together across a wall are cut apart there
    (:func:`_touching_pairs`, :meth:`Cells.resolve`). A box whose digit has dots
    beside it is also read without them, one whose digit runs into a wall with the
    line there given back, an empty box with pieces of ink that may be a digit
    broken apart with those joined up, or with a side wall's line given back where a
    1 may lie on it, and a digit pushed out of the row with the strokes beside it out
    there (:class:`Alternatives`).

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
    crops, inks, matrices, neighbours = [], [], [], []
    for i, quad in enumerate(grid.cells):
        crop, m = _warp_box(image, quad)
        crops.append(crop)
        inks.append(_ink(crop, PAD_FRACTION))
        matrices.append(m)
        neighbours.append(_grid_neighbours(grid.cells, i, m))
    seen = [_segment(ink, nb) for ink, nb in zip(inks, neighbours, strict=True)]
    # pieces of a stroke across a wall that a neighbour's crop sees whole are one
    boxes = []
    for i, box in enumerate(seen):
        bridge = _strokes_beside(seen, matrices, i)
        if bridge.any():
            box = _segment(inks[i], neighbours[i], bridge)
        boxes.append(box)
    # a stroke between two boxes goes to the one without a digit of its own (_settle)
    digits = [_own_digit(box) for box in boxes]
    given = _settle(boxes, matrices, digits, np.zeros(len(boxes), bool))
    results = [_finish(box, g) for box, g in zip(boxes, given, strict=True)]
    empty = np.array([r[0][1] == 0.0 for r in results])
    declined = empty & np.array([(g == 1).any() for g in given])
    if declined.any():
        given = _settle(boxes, matrices, digits, declined)
        beside = np.zeros_like(declined)
        beside[1:] |= declined[:-1]
        beside[:-1] |= declined[1:]
        for i in np.flatnonzero(beside):
            results[i] = _finish(boxes[i], given[i])
        empty = np.array([r[0][1] == 0.0 for r in results])
    for i, taken in enumerate(_dropped(boxes, matrices, given, empty)):
        if taken.any():
            took = np.where(taken, 1, given[i]).astype(np.int8)
            readings = _finish(boxes[i], took)
            if readings[0][1] > 0.0:
                results[i], given[i] = readings, took
    empty = np.array([r[0][1] == 0.0 for r in results])
    alternatives = []
    for a, labels, m in _touching_pairs(boxes, matrices, grid.cells, empty, given):
        keeps = (
            _with_stroke(boxes[a], given[a], labels[0]),
            _with_stroke(boxes[a + 1], given[a + 1], labels[1]),
        )
        cuts = _split(boxes[a], boxes[a + 1], labels, m, keeps)
        # the cuts take the place of both boxes' readings, dots and all
        results[a], results[a + 1] = [cuts[0][0]], [cuts[0][1]]
        cut_images = np.array([[left[0], right[0]] for left, right in cuts], np.float32)
        cut_ink = np.array([[left[1], right[1]] for left, right in cuts], np.float32)
        pair = _pair(boxes[a], boxes[a + 1], (crops[a], crops[a + 1]), labels, m, keeps)
        alternatives.append(Alternatives((a, a + 1), cut_images, cut_ink, pair=pair))
    for i, readings in enumerate(results):
        if len(readings) > 1:
            each = np.array([[r[0]] for r in readings], np.float32)
            fractions = np.array([[r[1]] for r in readings], np.float32)
            odds, walls = tuple(r[2] for r in readings), tuple(r[3] for r in readings)
            context = context_view(crops[i]) if any(walls) else None
            alternatives.append(Alternatives((i,), each, fractions, odds, walls, context=context))
    images = np.stack([r[0][0] for r in results]).astype(np.float32)
    ink = np.array([r[0][1] for r in results], np.float32)
    return Cells(images=images, ink=ink, alternatives=tuple(alternatives))
