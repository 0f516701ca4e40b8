"""Regenerate ``tests/data/mnist_test_2000.npz``: the first 2,000 MNIST test digits.

Usage::

    python training/make_test_slice.py --data-dir ../shared/data/mnist

Writes ``images`` (uint8, 2000 x 28 x 28) and ``labels`` (uint8, 2000) in ``t10k`` file
order (see tests/data/README.md for provenance and licence).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

if __package__ in (None, ""):  # run as a script: make `training` importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from training.data import DEFAULT_DATA_DIR, load_mnist  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[1] / "tests" / "data" / "mnist_test_2000.npz"


def make_test_slice(data_dir: str | Path, out: str | Path, *, count: int = 2000) -> Path:
    """Write the first ``count`` MNIST test digits to ``out`` (.npz) and return its path.

    Examples
    --------
    >>> make_test_slice("../shared/data/mnist", "/tmp/slice.npz")  # doctest: +SKIP
    PosixPath('/tmp/slice.npz')
    """
    test = load_mnist(data_dir, subset="test")
    out = Path(out)
    np.savez_compressed(
        out, images=test.images[:count], labels=test.labels[:count].astype(np.uint8)
    )
    return out


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    p.add_argument("--out", default=str(DEFAULT_OUT))
    p.add_argument("--count", type=int, default=2000)
    args = p.parse_args(argv)
    make_test_slice(args.data_dir, args.out, count=args.count)


if __name__ == "__main__":
    main()
