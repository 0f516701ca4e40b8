"""Train the pair model on views of touching digits, calibrate it and export it.

Two digits that run together across the wall between their boxes are cut apart in
several ways and each cut read by the digit model (:mod:`idreader.cell_split`); where
they overlap, no cut parts them. The pair model reads the two boxes at once, cleaned
and as scanned (:data:`idreader.cell_split.PAIR_SHAPE`), and says what each holds; the
reader weighs its reading with the cuts' (:meth:`idreader.cells.Cells.resolve`).

Usage (from the repository root; caches from :mod:`training.pairs_data`)::

    python -m training.train_pairs --pairs runs/pairs/s0 runs/pairs/s1 runs/pairs/s2 \\
        runs/pairs/s3 --held-out runs/pairs/s0 runs/pairs/s1 --epochs 14 --version 2.0.0 \\
        --out idreader/models/pairs.onnx --card idreader/models/pairs.json \\
        --slice tests/data/pair_views_400.npz

Training, calibration and export are :mod:`training.train_views`'.
"""

from __future__ import annotations

import logging

import torch

from .augment import AugmentConfig, blur_and_noise, random_affine, stroke_width
from .models import PairCNN
from .train_views import ViewModel, build_parser, run

#: Milder than the digit model's: where ink lies against the wall in the middle says
#: whose it is, so the views are shifted by a pixel or two only.
PAIR_AUGMENT = AugmentConfig(rotation_deg=5.0, scale=(0.92, 1.08), shift_px=1.5, shear=0.1,
                             p_affine=0.8)  # fmt: skip


def augment_views(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift, scale and turn the views a little, change the stroke width, blur, add noise."""
    x = random_affine(x, cfg=PAIR_AUGMENT, generator=generator)
    x = stroke_width(x, cfg=PAIR_AUGMENT, generator=generator)
    return blur_and_noise(x, cfg=PAIR_AUGMENT, generator=generator).clamp(0.0, 1.0)


PAIR_MODEL = ViewModel(
    name="idreader pair model (two touching digits)",
    architecture="PairCNN",
    build=PairCNN,
    shape=(2, 28, 48),
    input="float32 (N, 2, 28, 48) in [0, 1], white ink on black: two boxes side by side, "
    "their wall at the middle column (idreader.cell_split.pair_view), their cleaned ink "
    "then the boxes as scanned, walls included (idreader.cell_split.scanned_ink)",
    output="logits: float32 (N, 2, 11), the left box's then the right one's; "
    "probabilities = softmax(logits / temperature)",
    views="views of touching digits: MNIST training digits (CC BY-SA 3.0) minus 5,000 "
    "validation digits, written into ID boxes by idreader.synth, pushed across walls and "
    "cleaned by idreader.cells",
    caches="training.pairs_data",
    augment=augment_views,
)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    parser = build_parser(__doc__.split("\n\n")[0], views="--pairs",
                          out="idreader/models/pairs.onnx", card="idreader/models/pairs.json",
                          epochs=14)  # fmt: skip
    run(PAIR_MODEL, parser.parse_args(argv))


if __name__ == "__main__":
    main()
