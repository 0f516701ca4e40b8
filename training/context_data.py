"""Boxes read with a line given back, as scanned, for the context model.

Each strip is a row of ID boxes drawn by :func:`idreader.synth.make_strip` (as in
:mod:`training.cells_data`); in most of them every digit may be pushed across a
wall, as in the robustness benchmark's "digits crossing walls" rows. The boxes are
cleaned by the real :func:`idreader.cells.clean_cells`; every box it reads also with
a ruled line given back (:class:`idreader.cells.Alternatives` with a ``context``
view) becomes one example: the view (:func:`idreader.cell_split.context_view`), and
the box's true class (a tenth of boxes is blank, so ink pushed into an empty box is
among them).

Usage (from the repository root; writes ``<out>_train.npz``, ``<out>_val.npz`` and
``<out>_test.npz``)::

    python -m training.context_data --out runs/context/s0 --strips 12000 --seed 0

The train part uses the MNIST training digits that :func:`training.data.train_val_split`
keeps for training; ``val`` and ``test`` use disjoint halves of the held-out validation
digits, with seeds of their own. MNIST *test* digits are never used here.
"""

from __future__ import annotations

import numpy as np

from .cells_data import MIXES, digit_strip
from .views import Views, cache_main

#: Share of strips whose digits are pushed across walls (:data:`training.cells_data.MIXES`
#: ``"crossing"``); the rest are drawn as the digit model's caches are (``"usual"``),
#: where a digit runs into a line without being pushed.
CROSSING_SHARE = 0.8
#: Share of blank boxes.
BLANK_SHARE = 0.1


def context_examples(
    digits: np.ndarray, labels: np.ndarray, n_strips: int, *, rng: np.random.Generator
) -> Views:
    """Render ``n_strips`` strips and return the context views of their boxes read
    with a line given back, with each box's true class.

    Examples
    --------
    >>> views = context_examples(digits, labels, 20, rng=np.random.default_rng(0))  # doctest: +SKIP
    """
    from idreader.cell_split import CONTEXT_SHAPE
    from idreader.cells import clean_cells

    images, targets = [], []
    for _ in range(n_strips):
        mix = MIXES["crossing"] if rng.random() < CROSSING_SHARE else MIXES["usual"]
        strip, grid, truth = digit_strip(digits, labels, rng=rng, mix=mix, blank_share=BLANK_SHARE)
        for alt in clean_cells(strip, grid).alternatives:
            if alt.context is not None:
                images.append(alt.context)
                targets.append(truth[alt.boxes[0]])
    out = np.array(images, np.float32).reshape(-1, *CONTEXT_SHAPE)
    return Views(out, np.array(targets, np.int64))


def main(argv: list[str] | None = None) -> None:
    cache_main(
        context_examples,
        argv,
        description=__doc__.split("\n\n")[0],
        out="runs/context/s0",
        strips=12000,
    )


if __name__ == "__main__":
    main()
