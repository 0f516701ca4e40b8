"""Perturbations of MNIST-style cells for the robustness table of :mod:`training.evaluate`.

Each condition maps float32 ``(n, 28, 28)`` cells in [0, 1] to perturbed copies (the
input is not modified). "Moderate" conditions are what a usable scan produces; the
model card's target is >= 99 % accuracy under each of them. "Severe" ones are reported
to show where the model breaks.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import cv2
import numpy as np

from .blanks import draw_edge_fragment


@dataclass(frozen=True)
class Condition:
    """A named perturbation; ``severity`` is ``"moderate"`` or ``"severe"``."""

    name: str
    severity: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _per_image(fn: Callable[[np.ndarray, np.random.Generator], np.ndarray]):
    def run(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.stack([np.clip(fn(c, rng), 0.0, 1.0) for c in cells]).astype(np.float32)

    return run


def noise(sigma: float):
    def run(cells: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return np.clip(cells + rng.normal(0, sigma, cells.shape), 0, 1).astype(np.float32)

    return run


def rotation(lo: float, hi: float):
    def rotate(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        angle = rng.uniform(lo, hi) * rng.choice([-1, 1])
        m = cv2.getRotationMatrix2D((13.5, 13.5), angle, 1.0)
        return cv2.warpAffine(cell, m, (28, 28), flags=cv2.INTER_LINEAR, borderValue=0.0)

    return _per_image(rotate)


def blur(sigma: float):
    return _per_image(lambda c, rng: cv2.GaussianBlur(c, (0, 0), sigma))


def thin(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.erode(cell, np.ones((2, 2), np.uint8))


def thick(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    return cv2.dilate(cell, np.ones((2, 2), np.uint8))


def border_fragment(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    out = cell.copy()
    draw_edge_fragment(out, rng)
    return out


def jpeg(quality: int):
    def encode(cell: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        # Compress at scan scale (3x), as a scanner would, then back to 28x28.
        big = cv2.resize((cell * 255).astype(np.uint8), (84, 84), interpolation=cv2.INTER_LINEAR)
        ok, buf = cv2.imencode(".jpg", big, [cv2.IMWRITE_JPEG_QUALITY, quality])
        back = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
        return cv2.resize(back, (28, 28), interpolation=cv2.INTER_AREA) / 255.0

    return _per_image(encode)


CONDITIONS = (
    Condition("gaussian noise sigma=0.1", "moderate", noise(0.1)),
    Condition("rotation 10-15 deg", "moderate", rotation(10, 15)),
    Condition("blur sigma=0.7", "moderate", blur(0.7)),
    Condition("thin strokes (2x2 erosion)", "moderate", _per_image(thin)),
    Condition("thick strokes (2x2 dilation)", "moderate", _per_image(thick)),
    Condition("border fragment", "moderate", _per_image(border_fragment)),
    Condition("JPEG q=40 at 3x scale", "moderate", jpeg(40)),
    Condition("gaussian noise sigma=0.25", "severe", noise(0.25)),
    Condition("rotation 15-20 deg", "severe", rotation(15, 20)),
    Condition("rotation 20-25 deg", "severe", rotation(20, 25)),
    Condition("blur sigma=1.2", "severe", blur(1.2)),
    Condition("JPEG q=15 at 3x scale", "severe", jpeg(15)),
)
