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

import argparse
import logging
from pathlib import Path

import numpy as np

from .cells_data import MIXES, add_cache_arguments, random_conditions, split_parts, strip_grid
from .data import BLANK
from .views import Views

log = logging.getLogger(__name__)

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
    from idreader.synth import make_strip

    images, targets = [], []
    for _ in range(n_strips):
        mix = MIXES["crossing"] if rng.random() < CROSSING_SHARE else MIXES["usual"]
        layout, distortion, dpi = random_conditions(rng, mix=mix)
        picks = [None if rng.random() < BLANK_SHARE else int(rng.integers(len(labels)))
                 for _ in range(layout.n_boxes)]  # fmt: skip
        boxes = [None if i is None else digits[i] for i in picks]
        truth = [BLANK if i is None else int(labels[i]) for i in picks]
        strip, quads = make_strip(boxes, layout=layout, distortion=distortion, dpi=dpi, rng=rng)
        cells = clean_cells(strip, strip_grid(quads, distortion.skew))
        for alt in cells.alternatives:
            if alt.context is not None:
                images.append(alt.context)
                targets.append(truth[alt.boxes[0]])
    out = np.array(images, np.float32).reshape(-1, *CONTEXT_SHAPE)
    return Views(out, np.array(targets, np.int64))


def build_contexts(
    data_dir: str | Path,
    out: str | Path,
    *,
    strips: int,
    n_val: int = 5000,
    split_seed: int = 0,
    seed: int = 0,
    parts: tuple[str, ...] = ("train", "val", "test"),
) -> dict[str, Path]:
    """Write context caches ``<out>_{part}.npz``; returns their paths.

    Validation and test get ``strips // 10`` strips each, from disjoint halves of the
    held-out validation digits (``split_seed`` must match the digit model's training
    ``--seed``); ``seed`` changes the rendering only, so caches can be combined.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {}
    plan = split_parts(data_dir, strips=strips, n_val=n_val, split_seed=split_seed, seed=seed,
                       parts=parts)  # fmt: skip
    for name, images, labels, n, rng in plan:
        views = context_examples(images, labels, n, rng=rng)
        paths[name] = out.parent / f"{out.name}_{name}.npz"
        views.save(paths[name])
        log.info("%s: %d boxes from %d strips -> %s", name, len(views.labels), n, paths[name])
    return paths


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cache_arguments(p, out="runs/context/s0", strips=12000)
    args = p.parse_args(argv)
    build_contexts(args.data_dir, args.out, strips=args.strips, split_seed=args.split_seed,
                   seed=args.seed, parts=tuple(args.parts.split(",")))  # fmt: skip


if __name__ == "__main__":
    main()
