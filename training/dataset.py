"""Assemble training and validation tensors from MNIST, synthetic blanks and cell caches.

Every example is a float32 ``(28, 28)`` image in [0, 1] with a soft target ``(11,)``, so
hard labels (digits, blank) and soft ones (scribbles) share one loss.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .blanks import blank_cells, blank_target, one_hot, scribble_cells, scribble_target
from .data import BLANK, load_mnist, train_val_split


@dataclass(frozen=True)
class Examples:
    """``images`` float32 ``(n, 28, 28)`` in [0, 1]; ``targets`` float32 ``(n, 11)``;
    ``source`` a short string per example naming where it came from (for reports)."""

    images: np.ndarray
    targets: np.ndarray
    source: np.ndarray

    def __len__(self) -> int:
        return len(self.images)

    @property
    def labels(self) -> np.ndarray:
        """Hard label per example (argmax of the target; -1 for soft scribble targets)."""
        hard = self.targets.max(axis=1) > 0.5
        return np.where(hard, self.targets.argmax(axis=1), -1)

    def save(self, path: Path) -> None:
        np.savez_compressed(path, images=self.images, targets=self.targets, source=self.source)

    @classmethod
    def load(cls, path: Path) -> Examples:
        with np.load(path) as d:
            return cls(d["images"], d["targets"], d["source"])


def concat(parts: list[Examples]) -> Examples:
    """One :class:`Examples` holding all ``parts`` in order."""
    return Examples(
        np.concatenate([p.images for p in parts]),
        np.concatenate([p.targets for p in parts]),
        np.concatenate([p.source for p in parts]),
    )


def from_mnist(images: np.ndarray, labels: np.ndarray) -> Examples:
    """MNIST uint8 digits as examples with one-hot targets."""
    return Examples(
        images.astype(np.float32) / 255.0, one_hot(labels), np.full(len(labels), "mnist")
    )


def synthetic_extras(n_blank: int, n_scribble: int, *, rng: np.random.Generator) -> Examples:
    """Blank and scribble cells drawn in model space (:mod:`training.blanks`)."""
    return concat(
        [
            Examples(
                blank_cells(n_blank, rng=rng),
                blank_target(n_blank),
                np.full(n_blank, "blank_synth"),
            ),
            Examples(
                scribble_cells(n_scribble, rng=rng),
                scribble_target(n_scribble),
                np.full(n_scribble, "scribble"),
            ),
        ]
    )


def build_datasets(
    data_dir: str | Path,
    *,
    n_val: int = 5000,
    blank_fraction: float = 0.1,
    scribble_fraction: float = 0.01,
    cell_caches: list[Path] | None = None,
    subset: int | None = None,
    seed: int = 0,
) -> tuple[Examples, Examples]:
    """Training and validation examples.

    Parameters
    ----------
    data_dir : path
        MNIST folder (see :func:`training.data.load_mnist`).
    n_val : int
        MNIST training digits held out for validation (and temperature fitting).
    blank_fraction, scribble_fraction : float
        Synthetic blank / scribble examples added, as a fraction of the MNIST digits.
    cell_caches : list of path
        ``.npz`` caches written by :mod:`training.cells_data`, each with ``train`` and
        ``val`` parts (``<name>_train.npz`` / ``<name>_val.npz`` are looked up).
    subset : int or None
        Keep only this many MNIST training digits (quick runs).

    Examples
    --------
    >>> train, val = build_datasets("../shared/data/mnist", subset=100)  # doctest: +SKIP
    """
    rng = np.random.default_rng(seed)
    train_digits, val_digits = train_val_split(load_mnist(data_dir), n_val=n_val, seed=seed)
    images, labels = train_digits.images, train_digits.labels
    if subset is not None:
        images, labels = images[:subset], labels[:subset]
    parts_train = [from_mnist(images, labels)]
    parts_val = [from_mnist(val_digits.images, val_digits.labels)]
    for n, parts in ((len(labels), parts_train), (len(val_digits), parts_val)):
        parts.append(
            synthetic_extras(int(n * blank_fraction), max(1, int(n * scribble_fraction)), rng=rng)
        )
    for cache in cell_caches or []:
        parts_train.append(drop_emptied_digits(Examples.load(Path(f"{cache}_train.npz"))))
        parts_val.append(drop_emptied_digits(Examples.load(Path(f"{cache}_val.npz"))))
    return concat(parts_train), concat(parts_val)


def drop_emptied_digits(examples: Examples) -> Examples:
    """Remove digit examples whose cleaned image is all zero.

    Cleaning occasionally erases a whole digit (about 0.5 % of rendered digit boxes);
    the image is then identical to a clean blank, and a digit label on it would only
    teach the model to doubt empty boxes.

    Examples
    --------
    >>> ex = Examples(np.zeros((2, 28, 28), np.float32), np.eye(11, dtype=np.float32)[[3, 10]],
    ...               np.array(["a", "a"]))
    >>> drop_emptied_digits(ex).labels.tolist()
    [10]
    """
    labels = examples.labels
    empty = examples.images.reshape(len(examples), -1).max(axis=1) == 0
    keep = ~(empty & (labels >= 0) & (labels < BLANK))
    return Examples(examples.images[keep], examples.targets[keep], examples.source[keep])
