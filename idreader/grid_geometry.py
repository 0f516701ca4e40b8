"""Page turns and point mapping between a page and its upright version."""

from __future__ import annotations

import cv2
import numpy as np

_CV_ROTATE = {
    90: cv2.ROTATE_90_CLOCKWISE,
    180: cv2.ROTATE_180,
    270: cv2.ROTATE_90_COUNTERCLOCKWISE,
}


def upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Turn a page clockwise by ``rotation`` degrees (0, 90, 180 or 270).

    Parameters
    ----------
    image : np.ndarray
        (H, W) or (H, W, C) page image; not modified.
    rotation : int
        Clockwise turn, as in :attr:`IDGrid.rotation`.

    Returns
    -------
    np.ndarray
        The turned image ((W, H) for 90 and 270); ``image`` itself for 0.

    Examples
    --------
    >>> upright(np.arange(6, dtype=np.uint8).reshape(2, 3), 90).shape
    (3, 2)
    """
    if rotation == 0:
        return image
    if rotation not in _CV_ROTATE:
        raise ValueError(f"rotation must be 0, 90, 180 or 270, got {rotation}")
    return cv2.rotate(image, _CV_ROTATE[rotation])


def to_upright(points: np.ndarray, rotation: int, shape: tuple[int, int]) -> np.ndarray:
    """Map (..., 2) x, y points of an (H, W) page to the page turned by ``rotation``.

    Examples
    --------
    >>> to_upright(np.array([[0.0, 0.0]]), 90, (10, 20)).tolist()
    [[9.0, 0.0]]
    """
    h, w = shape[:2]
    x, y = points[..., 0], points[..., 1]
    mapped = {
        0: (x, y),
        90: (h - 1 - y, x),
        180: (w - 1 - x, h - 1 - y),
        270: (y, w - 1 - x),
    }[rotation]
    return np.stack(mapped, axis=-1)


def from_upright(points: np.ndarray, rotation: int, shape: tuple[int, int]) -> np.ndarray:
    """Inverse of :func:`to_upright`; ``shape`` is the (H, W) of the original page."""
    h, w = shape[:2]
    inverse = {0: 0, 90: 270, 180: 180, 270: 90}[rotation]
    turned = (w, h) if rotation in (90, 270) else (h, w)
    return to_upright(points, inverse, turned)


def order_corners(quads: np.ndarray) -> np.ndarray:
    """Corners of quads (..., 4, 2) as tl, tr, br, bl (angle order around each centre)."""
    c = quads.mean(axis=-2, keepdims=True)
    ang = np.arctan2(quads[..., 1] - c[..., 1], quads[..., 0] - c[..., 0])
    # Sorting clockwise from -180 degrees puts tl (about -135 with y down) first.
    order = np.argsort((ang + np.pi) % (2 * np.pi), axis=-1)
    return np.take_along_axis(quads, order[..., None], axis=-2)
