"""Train the context model on boxes read with a line given back, calibrate it and export it.

A digit that runs into a ruled line may have a stroke lying on it; the reader reads
such a box as cleaned and with the line given back, and weighs the two by prior odds
(:func:`idreader.cells.clean_cells`, :func:`idreader.cell_split.prior_weights`). The
line's thickness and the ink on both sides of it, which the cleaned cells no longer
show, often say which is right. The context model reads the box as scanned
(:func:`idreader.cell_split.context_view`); the reader mixes its reading with the
readings' (:meth:`idreader.cells.Cells.resolve`).

Usage (from the repository root; caches from :mod:`training.context_data`)::

    python -m training.train_context --views runs/context/s0 runs/context/s1 \\
        --held-out runs/context/s0 runs/context/s1 --epochs 8 --version 1.0.0 \\
        --slice tests/data/context_views_400.npz

Training, calibration and export are :mod:`training.train_views`'.
"""

from __future__ import annotations

import logging

import torch

from .models import ContextCNN
from .train_views import ViewModel, build_parser, run

#: Largest shift (pixels of the 48x48 view) of a training batch: a grid is never found
#: exactly where the box is.
SHIFT_PX = 2


def shift_views(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """The batch shifted by up to :data:`SHIFT_PX` pixels each way (one shift per batch)."""
    dy, dx = torch.randint(-SHIFT_PX, SHIFT_PX + 1, (2,), generator=generator).tolist()
    return torch.roll(x, (dy, dx), (2, 3))


CONTEXT_MODEL = ViewModel(
    name="idreader context model (a box with its walls)",
    architecture="ContextCNN",
    build=ContextCNN,
    shape=(1, 48, 48),
    input="float32 (N, 1, 48, 48) in [0, 1], white ink on black: one box as scanned with "
    "a margin of 0.35 of its side, walls included (idreader.cell_split.context_view)",
    output="logits: float32 (N, 11); probabilities = softmax(logits / temperature)",
    views="boxes read with a ruled line given back, as scanned: MNIST training digits "
    "(CC BY-SA 3.0) minus 5,000 validation digits, written into ID boxes by idreader.synth "
    "(in 80 % of the strips pushed across walls); the boxes chosen by idreader.cells",
    caches="training.context_data",
    augment=shift_views,
    label_smoothing=0.05,
)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = build_parser(__doc__.split("\n\n")[0], views="--views",
                          out="idreader/models/context.onnx",
                          card="idreader/models/context.json", epochs=8)  # fmt: skip
    run(CONTEXT_MODEL, parser.parse_args(argv))


if __name__ == "__main__":
    main()
