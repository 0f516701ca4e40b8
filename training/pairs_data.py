"""Views of two touching digits for the pair model, made the way the reader sees them.

Each strip is a row of ID boxes drawn by :func:`idreader.synth.make_strip` (as in
:mod:`training.cells_data`) whose digits are pushed across walls, most of them
sideways, by 15 to 45 % of a box. The boxes are cleaned by the real
:func:`idreader.cells.clean_cells`; every pair of boxes whose digits it finds run
together across their wall (:class:`idreader.cells.Alternatives` with a ``pair``
view) becomes one example: the view, and the true class of each box (a tenth of
boxes is blank, so a digit pushed into an empty box is among them).

Usage (from the repository root; writes ``<out>_train.npz``, ``<out>_val.npz`` and
``<out>_test.npz``)::

    python -m training.pairs_data --out runs/pairs/synth --strips 40000 --seed 0

The train part uses the MNIST training digits that :func:`training.data.train_val_split`
keeps for training; ``val`` and ``test`` use disjoint halves of the held-out validation
digits, with seeds of their own. MNIST *test* digits are never used here.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from .cells_data import StripMix, digit_strip, jitter_quads, strip_grid
from .views import Views, cache_main

#: Every strip's digits may cross a wall, each with this chance...
PAIR_MIX = StripMix(cross_share=1.0, cross_border=1.0)
#: ...by a push drawn from one of these ranges (the robustness benchmark's two rows)...
PUSHES = ((0.15, 0.3), (0.3, 0.45))
#: ...toward a side wall only in this share of strips (two digits touch across a side
#: wall; pushes out of the row make pairs only together with one).
SIDEWAYS_SHARE = 0.8
#: Share of blank boxes.
BLANK_SHARE = 0.1


def strip_mix(rng: np.random.Generator) -> StripMix:
    """A strip's push range and walls, drawn as :data:`PUSHES` and :data:`SIDEWAYS_SHARE` say."""
    push = PUSHES[int(rng.integers(len(PUSHES)))]
    sides = "sideways" if rng.random() < SIDEWAYS_SHARE else "any"
    return replace(PAIR_MIX, cross_push=push, cross_sides=sides)


def pair_examples(
    digits: np.ndarray, labels: np.ndarray, n_strips: int, *, rng: np.random.Generator
) -> Views:
    """Render ``n_strips`` strips and return the views of the touching pairs found in them.

    Examples
    --------
    >>> pairs = pair_examples(digits, labels, 20, rng=np.random.default_rng(0))  # doctest: +SKIP
    """
    from idreader.cell_split import PAIR_SHAPE
    from idreader.cells import clean_cells

    images, targets = [], []
    for _ in range(n_strips):
        strip, grid, truth = digit_strip(digits, labels, rng=rng, mix=strip_mix(rng),
                                         blank_share=BLANK_SHARE)  # fmt: skip
        quads = jitter_quads(grid.cells, rng=rng, amount=float(rng.uniform(0.0, 0.06)))
        cells = clean_cells(strip, strip_grid(quads, grid.skew))
        for alt in cells.alternatives:
            if alt.pair is not None:
                images.append(alt.pair)
                targets.append([truth[b] for b in alt.boxes])
    out = np.array(images, np.float32).reshape(-1, *PAIR_SHAPE)
    return Views(out, np.array(targets, np.int64).reshape(-1, 2))


def main(argv: list[str] | None = None) -> None:
    cache_main(
        pair_examples,
        argv,
        description=__doc__.split("\n\n")[0],
        out="runs/pairs/synth",
        strips=30000,
    )


if __name__ == "__main__":
    main()
