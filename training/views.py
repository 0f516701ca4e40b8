"""Views of boxes and their true classes: what the pair and the context model learn from.

A cache part (``<prefix>_train.npz``, ``_val``, ``_test``) holds float views in [0, 1]
stored as uint8, and one true class per box of each view (10 for blank).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class Views:
    """Views and the true class of each box they show.

    Attributes
    ----------
    images : np.ndarray
        float32 (n, rows, cols) in [0, 1].
    labels : np.ndarray
        int64 (n,) for views of one box, (n, 2) for views of two (left, right); 10 for
        blank.
    """

    images: np.ndarray
    labels: np.ndarray

    def save(self, path: Path) -> None:
        """Write as ``.npz``: the views in uint8 (a 255th of ink is below what matters)."""
        images = np.round(self.images * 255).astype(np.uint8)
        np.savez_compressed(path, images=images, labels=self.labels)

    @classmethod
    def load(cls, path: str | Path) -> Views:
        with np.load(path) as data:
            return cls(data["images"].astype(np.float32) / 255, data["labels"].astype(np.int64))


def load_parts(prefixes: list[str], part: str) -> Views:
    """The ``part`` (train, val or test) of every cache prefix, joined."""
    parts = [Views.load(f"{prefix}_{part}.npz") for prefix in prefixes]
    images, labels = (np.concatenate([getattr(p, k) for p in parts]) for k in ("images", "labels"))
    return Views(images, labels)
