"""Cut two digits that touch across the wall between their boxes.

A digit pushed across a wall can run into the digit of the next box: one stroke that
no box holds alone. Where to cut it is not known from the ink; the classic answer
(recognition-based segmentation) is to try several cuts and let the classifier say
which gives two clear digits. :func:`seam_sides` proposes the cuts: a path from top to
bottom through as little ink as possible, near the wall and at offsets from it;
:func:`cut_weights` weighs them by how clearly the model reads both halves as digits;
the reader then averages each box's probabilities over the cuts by those weights, so
a pair whose cut is in doubt comes out less confident instead of confidently wrong.
:func:`prior_weights` does the same for one box read in several ways (without the dots
beside its digit, with a stroke its wall may hide, an empty box with the pieces of a
broken digit put together, with the strokes a digit pushed out of the row left out
there), from prior odds. :func:`context_view` is how the context model sees a box
read with a line given back: as scanned, walls and neighbours' ink and all, and
:func:`blend` mixes either model's reading into the readings' average.
"""

from __future__ import annotations

import cv2
import numpy as np

from .assemble import BLANK

#: Where the cuts are aimed, as a fraction of the box width from the wall (positive:
#: into the right-hand box), the wall itself first. A digit pushed across a wall
#: reaches up to about a third of a box past it.
OFFSETS = (0.0, -0.1, 0.1, -0.2, 0.2, -0.3, 0.3, -0.4, 0.4)
#: How far apart (fraction of the box width) two cuts may be aimed when the digits of a
#: pair overlap, the ink between them read as part of both.
OVERLAP = 0.3
#: How far (fraction of the box width) a cut may wander from where it is aimed.
BAND = 0.1
#: Cost of wandering one box width, in pixels of ink cut: ties go to the straight cut.
DRIFT = 0.5
#: The pair model's view of two touching digits: channels (the two boxes' cleaned ink,
#: the two boxes as scanned, each drawn by :func:`pair_view`), rows, columns.
PAIR_SHAPE = (2, 28, 48)
#: The margin around the two boxes in that view, as a fraction of a box side.
PAIR_MARGIN = 0.2
#: Supersampling of :func:`pair_view` before it is averaged down (anti-aliasing).
_PAIR_SUPERSAMPLE = 4
#: The context model's view of one box with its walls (:func:`context_view`).
CONTEXT_SHAPE = (48, 48)
#: The least contrast (gray levels) :func:`scanned_ink` stretches to full ink, so that
#: the paper's noise in an empty box does not become strokes.
SCANNED_MIN_CONTRAST = 30.0
#: How strongly a cut's weight follows the model's odds on its two halves
#: (:func:`cut_weights`): chosen on validation strips by ``training/reading_odds.py``;
#: higher reads more pairs right but makes more of the wrong ones sure.
CUT_SHARPNESS = 0.25
#: The highest odds a half's reading counts for, 999 to 1: beyond that the model's
#: probabilities (rounded in float32 near 1) say no more.
MAX_ODDS = 999.0


def seam_sides(
    ink: np.ndarray, wall: float, width: float, offsets: tuple[float, ...] = OFFSETS
) -> list[np.ndarray]:
    """Ways to cut ink that runs across a vertical wall into a left and a right part.

    For each offset the cut is the 8-connected path from the top row to the bottom row,
    within :data:`BAND` of its aim, that crosses the fewest ink pixels (touching digits
    meet at a narrow neck), in the order of ``offsets``.

    Parameters
    ----------
    ink : np.ndarray
        bool (h, w): the ink to cut.
    wall : float
        Column of the wall.
    width : float
        Box width in pixels.
    offsets : tuple of float
        Where to aim the cuts, as a fraction of ``width`` from the wall.

    Returns
    -------
    list of np.ndarray
        bool (h, w) masks, True left of the cut.

    Examples
    --------
    >>> ink = np.zeros((20, 40), bool); ink[5:15, 10:30] = True; ink[:, 19:21] = False
    >>> sides = seam_sides(ink, wall=20.0, width=20.0)
    >>> int((sides[0] & ink).sum()), int((~sides[0] & ink).sum())
    (90, 90)
    """
    h, w = ink.shape
    xs = np.arange(w)
    cost_ink = ink.astype(np.float64)
    sides = []
    for offset in offsets:
        aim = wall + offset * width
        away = np.abs(xs - aim)
        cost = np.where(away <= BAND * width, cost_ink + DRIFT * away / width, np.inf)
        if not np.isfinite(cost[0]).any():
            continue
        sides.append(xs[None, :] < _min_path(cost)[:, None])
    return sides


def pair_view(left: np.ndarray, right: np.ndarray, m: np.ndarray, pad: int) -> np.ndarray:
    """Two neighbouring boxes' ink side by side in one image: a channel of what the pair
    model reads.

    The left box's crop and the right box's (each holding its digit with the whole
    stroke they share, or each as scanned, :func:`scanned_ink`) are drawn into one
    frame: the two boxes, a fifth of a box (:data:`PAIR_MARGIN`) around them, scaled to
    the rows and columns of :data:`PAIR_SHAPE`, so that the wall between them lies at
    the middle column and each digit keeps its place and size in its box (unlike
    MNIST's normalisation, which would lose where the wall is).

    Parameters
    ----------
    left, right : np.ndarray
        float (h, w) ink in [0, 1] of the left and the right crop.
    m : np.ndarray
        (3, 3) perspective from the left crop to the right one.
    pad : int
        Margin (pixels) around the box interior in the left crop.

    Returns
    -------
    np.ndarray
        float32 (rows, cols) of :data:`PAIR_SHAPE` in [0, 1], white ink on black.

    Examples
    --------
    A stroke across the wall of the left crop (box interior x 10-30) lies across the
    view's middle column:

    >>> ink = np.zeros((40, 40), np.float32); ink[10:30, 25:35] = 1.0
    >>> shift = np.array([[1.0, 0, -20], [0, 1, 0], [0, 0, 1]])
    >>> view = pair_view(ink, np.zeros_like(ink), shift, pad=10)
    >>> view.shape, round(float(view[:, :24].sum() / view.sum()), 2)
    ((28, 48), 0.5)
    """
    h, w = left.shape
    side_x, side_y = w - 2 * pad, h - 2 * pad
    x0, y0 = pad - PAIR_MARGIN * side_x, pad - PAIR_MARGIN * side_y
    rows, cols = PAIR_SHAPE[1:]
    big = (cols * _PAIR_SUPERSAMPLE, rows * _PAIR_SUPERSAMPLE)
    sx = big[0] / ((2 + 2 * PAIR_MARGIN) * side_x)
    sy = big[1] / ((1 + 2 * PAIR_MARGIN) * side_y)
    # pixel centres: pixel i covers [i, i + 1) of the frame before and after
    to_view = np.array([[sx, 0, sx * (0.5 - x0) - 0.5], [0, sy, sy * (0.5 - y0) - 0.5], [0, 0, 1]])
    seen = [
        cv2.warpPerspective(np.float32(ink), frame, big, flags=cv2.INTER_LINEAR)
        for ink, frame in ((left, to_view), (right, to_view @ np.linalg.inv(m)))
    ]
    view = cv2.resize(np.maximum(*seen), (cols, rows), interpolation=cv2.INTER_AREA)
    return np.clip(view, 0.0, 1.0).astype(np.float32)


def _min_path(cost: np.ndarray) -> np.ndarray:
    """Column per row of the cheapest 8-connected top-to-bottom path (seam carving)."""
    h, w = cost.shape
    total = cost[0].copy()
    step = np.zeros((h, w), np.intp)
    inf = np.array([np.inf])
    cols = np.arange(w)
    for y in range(1, h):
        # from the upper left, straight above, the upper right
        options = np.stack(
            [np.concatenate([inf, total[:-1]]), total, np.concatenate([total[1:], inf])]
        )
        best = options.argmin(axis=0)
        step[y] = best - 1
        total = options[best, cols] + cost[y]
    seam = np.empty(h, np.intp)
    x = int(np.argmin(total))
    for y in range(h - 1, -1, -1):
        seam[y] = x
        x += step[y, x]
    return seam


def cut_weights(probs: np.ndarray, sharpness: float = CUT_SHARPNESS) -> np.ndarray:
    """How likely each cut of a touching pair is, from the model's reading of its halves.

    A cut scores the product of the two halves' odds on their top digit, ``p / (1 - p)``
    up to :data:`MAX_ODDS` (both boxes hold a digit: two digits run together are what
    made the pair, so the blank class does not count), raised to ``sharpness``; the
    weights are those scores normalised to sum to 1. Odds tell 0.99 from 0.9 (a clean
    half from one with a piece of the other digit left in it) where probabilities
    hardly do.

    Parameters
    ----------
    probs : np.ndarray
        (k, 2, 11) class probabilities of the left and right halves of each cut.
    sharpness : float
        The power on the odds (:data:`CUT_SHARPNESS`).

    Returns
    -------
    np.ndarray
        float64 (k,) weights summing to 1.

    Examples
    --------
    >>> p = np.full((2, 2, 11), 0.01); p[0, :, 3] = 0.9; p[1, :, 3] = 0.3
    >>> cut_weights(p).round(2).tolist()
    [0.82, 0.18]
    >>> cut_weights(p, sharpness=1.0).round(3).tolist()
    [0.998, 0.002]
    """
    top = np.maximum(np.asarray(probs, np.float64)[..., :BLANK].max(axis=-1), 1e-12)
    odds = np.minimum(top / np.maximum(1 - top, 1e-12), MAX_ODDS)
    score = sharpness * np.log(odds).sum(axis=-1)
    weights = np.exp(score - score.max())
    return weights / weights.sum()


#: How much the pair model's reading of a touching pair counts against that of its cuts
#: (:func:`blend`): chosen on validation strips by ``training/reading_odds.py``.
PAIR_WEIGHT = 0.75


def blend(readings: np.ndarray, model: np.ndarray, weight: float) -> np.ndarray:
    """Boxes' class probabilities from their readings' average and a second model's.

    The two are mixed, ``(1 - weight) * readings + weight * model``: where they agree
    the boxes read as surely as both, where they differ as unsurely as the mix says (a
    box in doubt is flagged, not guessed). The pair model's reading of a touching pair
    is mixed in with :data:`PAIR_WEIGHT`, the context model's reading of a box with a
    line given back with :data:`CONTEXT_WEIGHT`.

    Parameters
    ----------
    readings, model : np.ndarray
        (..., 11) class probabilities of the same boxes.
    weight : float
        The model's share, 0 to 1.

    Returns
    -------
    np.ndarray
        float64, the shape of ``readings``.

    Examples
    --------
    >>> cuts = np.eye(11)[[4, 6]]; pair = np.eye(11)[[4, 0]]
    >>> blend(cuts, pair, 0.5).max(axis=1).tolist()
    [1.0, 0.5]
    """
    return (1 - weight) * np.asarray(readings, np.float64) + weight * np.asarray(model, np.float64)


#: The context model's share of a box read with a line given back (:func:`blend`):
#: chosen on validation strips by ``training/reading_odds.py``.
CONTEXT_WEIGHT = 0.5


def scanned_ink(crop: np.ndarray) -> np.ndarray:
    """A box's crop as scanned, turned into ink: what the context and the pair model see
    of the walls and of the strokes that lie on them.

    The paper (90th gray percentile) is 0 and the darkest ink (1st percentile, or
    :data:`SCANNED_MIN_CONTRAST` darker than the paper if that is fainter) is 1.

    Parameters
    ----------
    crop : np.ndarray
        uint8 (h, w) gray crop, dark ink on light paper.

    Returns
    -------
    np.ndarray
        float64 (h, w) in [0, 1], white ink on black.

    Examples
    --------
    >>> crop = np.full((10, 10), 250, np.uint8); crop[:, 4] = 20; crop[:, 5] = 235
    >>> scanned_ink(crop)[0, 3:6].round(2).tolist()
    [0.0, 1.0, 0.07]
    """
    gray = np.asarray(crop, np.float32)
    low, paper = np.percentile(gray, [1, 90])
    return np.clip((paper - gray) / max(paper - low, SCANNED_MIN_CONTRAST), 0.0, 1.0)


def context_view(crop: np.ndarray) -> np.ndarray:
    """One box as scanned, its walls and what lies across them, for the context model.

    The rules that give a line back to a digit (:func:`idreader.cells.clean_cells`)
    cannot tell a stroke lying on a line from the line itself; a model that sees the
    line's thickness and the ink on both sides of it can. The box's crop
    (:func:`idreader.cells.box_crop`, the box and a margin of
    :data:`idreader.cells.CROP_PAD` of its side) is turned into ink
    (:func:`scanned_ink`) and scaled to :data:`CONTEXT_SHAPE`.

    Parameters
    ----------
    crop : np.ndarray
        uint8 (h, w) gray crop of one box, dark ink on light paper.

    Returns
    -------
    np.ndarray
        float32 :data:`CONTEXT_SHAPE` in [0, 1], white ink on black.

    Examples
    --------
    >>> crop = np.full((96, 96), 250, np.uint8); crop[30:66, 46:50] = 20
    >>> view = context_view(crop)
    >>> view.shape, float(view.max()), float(view[0, 0])
    ((48, 48), 1.0, 0.0)
    """
    rows, cols = CONTEXT_SHAPE
    view = cv2.resize(scanned_ink(crop), (cols, rows), interpolation=cv2.INTER_AREA)
    return view.astype(np.float32)


#: Odds, before the model reads it, that a dot beside a digit is a speck rather than part
#: of the digit (a stroke cut short, such as the bar of a 7 written as a blob): 1 to 2.
SPECK_ODDS = 0.5
#: Odds, before the model reads it, that a ruled line the digit runs into hides a stroke
#: of it (the bar of a 7 drawn on the top line, the top of a 9's loop) rather than only
#: the line: even.
WALL_ODDS = 1.0
#: How much likelier that is where the line is seen thickened by a stroke lying on it,
#: beyond the places the digit's strokes touch it (:func:`idreader.cells._lying`).
LYING_ODDS = 4.0
#: Odds, before the model reads it, that pieces of ink too small to be a digit or to join
#: one are (part of) a digit a threshold broke apart rather than specks: even.
BROKEN_ODDS = 1.0

#: Odds, before the model reads it, that a stroke outside the row beside a digit pushed
#: out of it is part of the digit (the bar of a 5 written above the top line) rather
#: than a mark: even.
OUTSIDE_ODDS = 1.0


def prior_weights(probs: np.ndarray, odds: tuple[float, ...]) -> np.ndarray:
    """How likely each reading of one box is: as cleaned, and in other ways (less its
    dots, with a stroke that lay on a wall given back, with the pieces of a broken
    digit joined up, or with strokes outside the row beside it).

    When all read the same class, the other readings do not matter and the first (as
    cleaned) stands: dropping or adding ink can make a digit read more surely, and that
    is no evidence for the change. When they differ, each reading scores its prior
    ``odds`` against the first times its top probability, normalised to sum to 1. The
    blank class counts: a box read surely as blank one way and surely as a digit the
    other is in doubt, not the digit's (unlike a cut of two touching digits, which are
    known to be two digits, :func:`cut_weights`).

    Parameters
    ----------
    probs : np.ndarray
        (k, 1, 11) class probabilities of the box's k readings.
    odds : tuple of float
        k prior odds of each reading against the first (the first's is 1).

    Returns
    -------
    np.ndarray
        float64 (k,) weights summing to 1.

    Examples
    --------
    >>> p = np.full((2, 1, 11), 0.01); p[0, 0, 7] = 0.35; p[1, 0, 9] = 0.88
    >>> prior_weights(p, (1.0, SPECK_ODDS)).round(2).tolist()
    [0.44, 0.56]
    >>> p[1, 0, 7] = 0.99
    >>> prior_weights(p, (1.0, SPECK_ODDS)).tolist()
    [1.0, 0.0]
    """
    probs = np.asarray(probs, np.float64)
    classes = probs[:, 0].argmax(axis=-1)
    if (classes == classes[0]).all():
        return np.eye(len(probs))[0]
    top = np.maximum(probs[:, 0].max(axis=-1), 1e-12)
    weights = np.asarray(odds, np.float64) * top
    return weights / weights.sum()
