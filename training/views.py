"""Views of boxes and their true classes: what the pair and the context model learn from.

A cache part (``<prefix>_train.npz``, ``_val``, ``_test``) holds float views in [0, 1]
stored as uint8, and one true class per box of each view (10 for blank).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .cells_data import add_cache_arguments, split_parts

log = logging.getLogger(__name__)


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


#: What makes a cache part: ``make(digits, labels, n_strips, rng=rng)`` renders
#: ``n_strips`` strips of those digits and returns the views found in them.
MakeViews = Callable[..., Views]


def build_views(
    make: MakeViews,
    data_dir: str | Path,
    out: str | Path,
    *,
    strips: int,
    n_val: int = 5000,
    split_seed: int = 0,
    seed: int = 0,
    parts: tuple[str, ...] = ("train", "val", "test"),
) -> dict[str, Path]:
    """Write the caches ``<out>_{part}.npz`` of the views ``make`` finds; returns their paths.

    Validation and test get ``strips // 10`` strips each, from disjoint halves of the
    held-out validation digits (``split_seed`` must match the digit model's training
    ``--seed``); ``seed`` changes the rendering only, so caches can be combined
    (:func:`training.cells_data.split_parts`).
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {}
    plan = split_parts(data_dir, strips=strips, n_val=n_val, split_seed=split_seed, seed=seed,
                       parts=parts)  # fmt: skip
    for name, images, labels, n, rng in plan:
        views = make(images, labels, n, rng=rng)
        paths[name] = out.parent / f"{out.name}_{name}.npz"
        views.save(paths[name])
        log.info("%s: %d views from %d strips -> %s", name, len(views.labels), n, paths[name])
    return paths


def cache_main(
    make: MakeViews, argv: list[str] | None, *, description: str, out: str, strips: int
) -> None:
    """The command line of a view cache builder: :func:`build_views` with ``make``."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=description)
    add_cache_arguments(p, out=out, strips=strips)
    args = p.parse_args(argv)
    build_views(make, args.data_dir, args.out, strips=args.strips, split_seed=args.split_seed,
                seed=args.seed, parts=tuple(args.parts.split(",")))  # fmt: skip
