"""Synthetic blank and scribble cells drawn directly in the 28x28 model space.

These complement the blank cells rendered through the real page pipeline
(:mod:`training.cells_data`): they cover what a cleaned empty box can still contain —
sensor noise, a few specks, a sliver of box border the cleaner did not remove — without
the cost of rendering pages. Scribbles (crossed-out or scrawled cells) are *not* blank:
their training target is spread uniformly over the ten digits (see :func:`scribble_target`).
"""

from __future__ import annotations

import cv2
import numpy as np

from .data import BLANK, NUM_CLASSES


def blank_cells(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` float32 ``(28, 28)`` blank cells in [0, 1]: zeros plus light clutter.

    Each cell gets a random mix of: Gaussian noise (sigma <= 0.06), up to three
    specks of 1-2 px, a faint smudge, and a thin line fragment hugging one edge
    (a left-over piece of box border).

    Examples
    --------
    >>> cells = blank_cells(4, rng=np.random.default_rng(0))
    >>> cells.shape, cells.dtype, float(cells.max()) <= 1.0
    ((4, 28, 28), dtype('float32'), True)
    """
    out = np.zeros((n, 28, 28), np.float32)
    for cell in out:
        kind = rng.random(4)
        if kind[0] < 0.5:
            cell += np.abs(rng.normal(0.0, rng.uniform(0.005, 0.06), cell.shape))
        if kind[1] < 0.4:
            for _ in range(rng.integers(1, 4)):
                x, y = rng.integers(0, 27, size=2)
                s = int(rng.integers(1, 3))
                cell[y : y + s, x : x + s] = np.maximum(
                    cell[y : y + s, x : x + s], rng.uniform(0.3, 1)
                )
        if kind[2] < 0.2:
            centre = (int(rng.integers(6, 22)), int(rng.integers(6, 22)))
            axes = (int(rng.integers(2, 6)), int(rng.integers(1, 4)))
            smudge = np.zeros_like(cell)
            cv2.ellipse(smudge, centre, axes, float(rng.uniform(0, 180)), 0, 360, 1.0, -1)
            smudge = cv2.GaussianBlur(smudge, (5, 5), 1.5) * rng.uniform(0.05, 0.25)
            np.maximum(cell, smudge, out=cell)
        if kind[3] < 0.3:
            draw_edge_fragment(cell, rng)
    return np.clip(out, 0.0, 1.0)


def draw_edge_fragment(cell: np.ndarray, rng: np.random.Generator) -> None:
    """Draw, in place, a thin straight line along one edge (a box-border remnant)."""
    pos = int(rng.integers(0, 3))
    start, stop = sorted(rng.integers(0, 28, size=2))
    value = float(rng.uniform(0.3, 1.0))
    thickness = int(rng.integers(1, 3))
    side = int(rng.integers(0, 4))
    if side == 0:
        cell[pos : pos + thickness, start:stop] = value
    elif side == 1:
        cell[27 - pos - thickness + 1 : 28 - pos, start:stop] = value
    elif side == 2:
        cell[start:stop, pos : pos + thickness] = value
    else:
        cell[start:stop, 27 - pos - thickness + 1 : 28 - pos] = value


def scribble_cells(n: int, *, rng: np.random.Generator) -> np.ndarray:
    """``n`` float32 ``(28, 28)`` scribbles: dense random strokes or a crossed-out blob.

    Examples
    --------
    >>> bool(scribble_cells(2, rng=np.random.default_rng(0)).mean() > 0.05)
    True
    """
    out = np.zeros((n, 28, 28), np.float32)
    for cell in out:
        pts = rng.uniform(4, 24, size=(int(rng.integers(6, 16)), 2)).astype(np.int32)
        cv2.polylines(cell, [pts.reshape(-1, 1, 2)], False, 1.0, int(rng.integers(1, 4)))
        if rng.random() < 0.5:  # crossed out: a big X over the scrawl
            cv2.line(cell, (4, 4), (23, 23), 1.0, 2)
            cv2.line(cell, (23, 4), (4, 23), 1.0, 2)
    return np.stack([cv2.GaussianBlur(cell, (3, 3), 0.7) for cell in out])


def one_hot(labels: np.ndarray) -> np.ndarray:
    """Soft-target rows ``(n, 11)`` float32 for hard integer labels ``(n,)``."""
    return np.eye(NUM_CLASSES, dtype=np.float32)[labels]


def blank_target(n: int) -> np.ndarray:
    """Targets ``(n, 11)`` for blank cells: all mass on class 10."""
    return one_hot(np.full(n, BLANK))


def scribble_target(n: int) -> np.ndarray:
    """Targets ``(n, 11)`` for scribbles: uniform over the ten digits, zero on blank.

    A scribbled box must never read as blank (that would silently shorten an ID),
    and no single digit is right; a flat digit distribution makes the reader flag it.
    """
    target = np.zeros((n, NUM_CLASSES), np.float32)
    target[:, :BLANK] = 1.0 / BLANK
    return target
