"""The "scanner" of :mod:`idreader.synth`: warps, blur, noise, binarization, JPEG, turning."""

from __future__ import annotations

from statistics import NormalDist
from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    from .synth_options import Distortion

# Standard normal quantiles at the centres of 256 equal-probability bins.
_STANDARD_NORMAL_LEVELS = np.array([NormalDist().inv_cdf((k + 0.5) / 256) for k in range(256)])


def distort(
    image: np.ndarray,
    cells: np.ndarray,
    distortion: Distortion,
    *,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Scan ``image`` (paper = 255) with ``distortion``; move ``cells`` (n, 4, 2) along.

    Order as in a scanner: skew/perspective warp -> paper level -> blur -> noise ->
    binarize -> JPEG -> page turn. Returns the new uint8 image and float32 cells in the
    coordinates of the image before the page turn (the upright page).
    """
    h, w = image.shape
    matrix = scene_matrix((w, h), distortion.skew, distortion.perspective, rng=rng)
    if not np.allclose(matrix, np.eye(3)):
        if distortion.perspective:
            image = cv2.warpPerspective(
                image, matrix, (w, h), flags=cv2.INTER_LINEAR, borderValue=255
            )
        else:
            image = cv2.warpAffine(
                image, matrix[:2], (w, h), flags=cv2.INTER_LINEAR, borderValue=255
            )
        cells = cv2.perspectiveTransform(cells.reshape(-1, 1, 2).astype(np.float64), matrix)
        cells = cells.reshape(-1, 4, 2)
    if distortion.background != 255:
        image = cv2.convertScaleAbs(image, alpha=distortion.background / 255.0)
    if distortion.blur > 0:
        image = cv2.GaussianBlur(image, (0, 0), distortion.blur)
    if distortion.noise > 0:
        image = _add_noise(image, distortion.noise, rng)
    if distortion.binarize:
        image = np.where(image < 128, 0, 255).astype(np.uint8)
    if distortion.jpeg_quality is not None:
        ok, encoded = cv2.imencode(
            ".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, distortion.jpeg_quality]
        )
        image = cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE)
    if distortion.rotation:
        image = np.ascontiguousarray(np.rot90(image, -distortion.rotation // 90))
    return image, np.asarray(cells, np.float32)


def scene_matrix(
    size: tuple[int, int],
    skew: float,
    perspective: float,
    *,
    rng: np.random.Generator,
) -> np.ndarray:
    """3x3 homography: rotate by ``skew`` degrees about the centre, then a random keystone.

    ``perspective`` moves each corner of the ``size`` = (w, h) frame by up to that
    fraction of the frame size.
    """
    w, h = size
    rotate = np.vstack([cv2.getRotationMatrix2D(((w - 1) / 2, (h - 1) / 2), skew, 1.0), [0, 0, 1]])
    if perspective <= 0:
        return rotate
    corners = np.array([[0, 0], [w - 1, 0], [w - 1, h - 1], [0, h - 1]], np.float32)
    moved = corners + rng.uniform(-perspective, perspective, (4, 2)) * [w, h]
    keystone = cv2.getPerspectiveTransform(corners, moved.astype(np.float32))
    return keystone @ rotate


def _add_noise(image: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """Add zero-mean Gaussian noise of standard deviation ``sigma``, saturating at 0/255.

    A uniform random byte per pixel is mapped through the normal quantile function
    (256 levels): a tenth of the cost of ``rng.normal`` on a 4-megapixel page.
    """
    levels = _STANDARD_NORMAL_LEVELS * sigma
    positive = np.clip(np.rint(levels), 0, 255).astype(np.uint8)
    negative = np.clip(np.rint(-levels), 0, 255).astype(np.uint8)
    raw = _random_bytes(rng, image.shape)
    # each pixel gets either a positive or a negative offset; uint8 arithmetic saturates
    out = cv2.add(image, cv2.LUT(raw, positive))
    return cv2.subtract(out, cv2.LUT(raw, negative))


def _random_bytes(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform random bytes of ``shape`` (H, W).

    Large images XOR two random tiles of coprime sides (509, 512), which repeats only
    every few hundred thousand pixels and costs far less than a byte per pixel.
    """
    if shape[0] * shape[1] <= 512 * 512:
        return np.frombuffer(rng.bytes(shape[0] * shape[1]), np.uint8).reshape(shape)
    tiles = []
    for side in (509, 512):
        tile = np.frombuffer(rng.bytes(side * side), np.uint8).reshape(side, side)
        reps = (-(-shape[0] // side), -(-shape[1] // side))
        tiles.append(np.ascontiguousarray(np.tile(tile, reps)[: shape[0], : shape[1]]))
    return cv2.bitwise_xor(*tiles)
