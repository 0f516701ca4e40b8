"""MNIST loading (IDX gzip, never downloaded) and the train/validation split.

MNIST ships as four IDX files; ``load_mnist`` reads them from ``--data-dir`` and returns
uint8 images. The validation split is carved out of the *training* set with a fixed seed,
so the 10,000 test digits stay untouched for the final figure.
"""

from __future__ import annotations

import gzip
from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Default location of the MNIST files, relative to the repository root.
DEFAULT_DATA_DIR = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

#: Index of the blank class in the model's output.
BLANK = 10
NUM_CLASSES = 11
CLASSES = tuple(str(d) for d in range(10)) + ("blank",)

_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}


@dataclass(frozen=True)
class Split:
    """Images and labels of one data split.

    ``images`` is uint8 ``(n, 28, 28)`` (white ink on black), ``labels`` int64 ``(n,)``.
    """

    images: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)


def _read_idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as fh:
        raw = fh.read()
    magic = int.from_bytes(raw[0:4], "big")
    ndim = magic & 0xFF
    if magic >> 8 != 0x08:  # 0x08 = unsigned byte data
        raise ValueError(f"{path} is not an unsigned-byte IDX file (magic {magic:#x})")
    shape = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    return data.reshape(shape)


def load_mnist(data_dir: str | Path = DEFAULT_DATA_DIR, *, subset: str = "train") -> Split:
    """Read one MNIST subset from its IDX gzip files.

    Parameters
    ----------
    data_dir : path
        Folder holding the four ``*-ubyte.gz`` files.
    subset : {"train", "test"}
        ``train`` is the 60,000 training digits, ``test`` the 10,000 ``t10k`` digits.

    Returns
    -------
    Split
        uint8 images ``(n, 28, 28)`` and int64 labels ``(n,)``, in file order.

    Examples
    --------
    >>> test = load_mnist("../shared/data/mnist", subset="test")  # doctest: +SKIP
    >>> test.images.shape  # doctest: +SKIP
    (10000, 28, 28)
    """
    image_file, label_file = _FILES[subset]
    data_dir = Path(data_dir)
    images = _read_idx(data_dir / image_file)
    labels = _read_idx(data_dir / label_file).astype(np.int64)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise ValueError(f"unexpected MNIST shapes {images.shape} / {labels.shape} in {data_dir}")
    return Split(images=images, labels=labels)


def train_val_split(train: Split, *, n_val: int = 5000, seed: int = 0) -> tuple[Split, Split]:
    """Split the MNIST training set into (train, validation) with a fixed permutation.

    Examples
    --------
    >>> s = Split(np.zeros((10, 28, 28), np.uint8), np.arange(10))
    >>> [len(p) for p in train_val_split(s, n_val=3)]
    [7, 3]
    """
    order = np.random.default_rng(seed).permutation(len(train))
    val, rest = order[:n_val], order[n_val:]
    return (
        Split(train.images[rest], train.labels[rest]),
        Split(train.images[val], train.labels[val]),
    )
