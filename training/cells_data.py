"""Training cells made the way the reader sees them: rendered ID boxes, cleaned by cells.py.

Each strip is a row of ID boxes drawn by :func:`idreader.synth.make_strip` with a random
layout, resolution and scan distortion, holding MNIST *training* digits, blank boxes and
a few scribbles. The boxes are located from the true corners plus a small random error
(a grid finder is never exact) and cleaned by the real :func:`idreader.cells.clean_cells`,
so border fragments, scan noise, offsets and stroke widths at inference time are in the
training distribution.

Usage (from the repository root; writes ``<out>_train.npz``, ``<out>_val.npz`` and
``<out>_test.npz``)::

    python -m training.cells_data --out runs/cells/synth --strips 9000

The train part uses the MNIST training digits that :func:`training.data.train_val_split`
keeps for training; ``val`` and ``test`` use disjoint halves of the held-out validation
digits, with their own seeds. MNIST *test* digits are never used here.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .blanks import blank_target, one_hot, scribble_cells, scribble_target
from .data import BLANK, DEFAULT_DATA_DIR, load_mnist, train_val_split
from .dataset import Examples

log = logging.getLogger(__name__)

#: Layouts used for strips ("two_grids" only adds a second grid below the row, which
#: does not change what the ID boxes look like).
STRIP_KINDS = ("joined", "gapped", "table")
#: Share of boxes left empty, and of boxes holding a scribble instead of a digit.
BLANK_SHARE = 0.3
SCRIBBLE_SHARE = 0.02


@dataclass(frozen=True)
class StripMix:
    """How often the rarer scan conditions are drawn for a strip.

    The defaults made every cache of the shipped model; a cache aimed at one weakness
    raises its share.

    Attributes
    ----------
    cross_share : float
        Share of strips whose digits may be pushed across a wall.
    cross_border : float
        In those strips, each digit's chance of being pushed (the robustness
        benchmark's "digits crossing walls" rows: 0.5).
    binarize : float
        Share of strips thresholded to black and white, like a fax.
    cross_push : tuple of float
        How far a pushed digit is pushed (:attr:`idreader.synth.Distortion.cross_push`).
    cross_sides : str
        Toward which walls (:attr:`idreader.synth.Distortion.cross_sides`).
    """

    cross_share: float = 0.2
    cross_border: float = 0.1
    binarize: float = 0.08
    cross_push: tuple[float, float] = (0.3, 0.45)
    cross_sides: str = "any"


#: Strip mixes: the training caches' usual one, and every strip's digits pushed across
#: walls as in the robustness benchmark's "digits crossing walls (push 30-45 %)".
MIXES = {"usual": StripMix(), "crossing": StripMix(cross_share=1.0, cross_border=0.5)}


def random_conditions(
    rng: np.random.Generator, *, mix: StripMix = StripMix()
) -> tuple[object, object, int]:
    """A random (Layout, Distortion, dpi) spanning clean to rough scans, drawn as ``mix`` says."""
    from idreader.synth import Distortion, Layout

    layout = Layout(
        kind=str(rng.choice(STRIP_KINDS)),
        n_boxes=int(rng.integers(4, 11)),
        box_mm=float(rng.uniform(6.0, 10.0)),
        line_mm=float(rng.uniform(0.2, 0.6)),
        marks_table=False,
    )
    rough = rng.random() < 0.5
    distortion = Distortion(
        skew=float(rng.uniform(-3, 3)) if rng.random() < 0.6 else 0.0,
        blur=float(rng.uniform(0.3, 1.2)) if rng.random() < 0.3 else 0.0,
        noise=float(rng.uniform(2, 14)) if rng.random() < 0.5 else 0.0,
        jpeg_quality=int(rng.integers(30, 90)) if rng.random() < 0.3 else None,
        binarize=bool(rng.random() < mix.binarize),
        line_gray=int(rng.integers(0, 170)) if rng.random() < 0.3 else 0,
        broken_lines=float(rng.uniform(0.05, 0.4)) if rough and rng.random() < 0.4 else 0.0,
        specks=int(rng.integers(1, 30)) if rough else 0,
        stray_marks=int(rng.integers(1, 4)) if rough and rng.random() < 0.4 else 0,
        ink_gray=int(rng.integers(0, 110)) if rng.random() < 0.3 else 0,
        background=int(rng.integers(200, 256)) if rng.random() < 0.4 else 255,
        stroke_scale=float(rng.uniform(0.6, 1.8)) if rng.random() < 0.4 else 1.0,
        digit_jitter=float(rng.uniform(0.0, 0.15)),
        cross_border=mix.cross_border if rng.random() < mix.cross_share else 0.0,
        cross_push=mix.cross_push,
        cross_sides=mix.cross_sides,
    )
    dpi = int(rng.choice([150, 200, 200, 300]))
    return layout, distortion, dpi


def jitter_quads(quads: np.ndarray, *, rng: np.random.Generator, amount: float) -> np.ndarray:
    """Move each corner of ``quads`` ``(n, 4, 2)`` by up to ``amount`` x the box side."""
    side = np.linalg.norm(quads[:, 1] - quads[:, 0], axis=1)[:, None, None]
    return (quads + rng.uniform(-amount, amount, quads.shape) * side).astype(np.float32)


def strip_grid(quads: np.ndarray, skew: float):
    """The upright :class:`idreader.grid.IDGrid` of a rendered strip's box corners."""
    from idreader.grid import IDGrid

    (x0, y0), (x1, y1) = quads.reshape(-1, 2).min(axis=0), quads.reshape(-1, 2).max(axis=0)
    return IDGrid(quads, 0, float(skew), (x0, y0, x1, y1), 1.0)


def digit_strip(
    digits: np.ndarray,
    labels: np.ndarray,
    *,
    rng: np.random.Generator,
    mix: StripMix,
    blank_share: float,
) -> tuple[np.ndarray, object, np.ndarray]:
    """A random strip of ``digits`` (each box blank with chance ``blank_share``), drawn
    as ``mix`` says: the strip image, its upright grid, and each box's true class.

    Examples
    --------
    >>> strip, grid, truth = digit_strip(digits, labels, rng=np.random.default_rng(0),
    ...                                  mix=StripMix(), blank_share=0.1)  # doctest: +SKIP
    """
    from idreader.synth import make_strip

    layout, distortion, dpi = random_conditions(rng, mix=mix)
    picks = [None if rng.random() < blank_share else int(rng.integers(len(labels)))
             for _ in range(layout.n_boxes)]  # fmt: skip
    truth = np.array([BLANK if i is None else int(labels[i]) for i in picks])
    boxes = [None if i is None else digits[i] for i in picks]
    strip, quads = make_strip(boxes, layout=layout, distortion=distortion, dpi=dpi, rng=rng)
    return strip, strip_grid(quads, distortion.skew), truth


def strip_cells(
    digits: np.ndarray,
    labels: np.ndarray,
    n_strips: int,
    *,
    rng: np.random.Generator,
    source: str,
    mix: StripMix = StripMix(),
    readings: bool = False,
) -> Examples:
    """Render ``n_strips`` random ID strips and return their cleaned cells as examples.

    Parameters
    ----------
    digits, labels : ndarray
        uint8 ``(N, 28, 28)`` MNIST digits and their labels to write into boxes.
    n_strips : int
        Number of strips (4-10 boxes each).
    source : str
        Tag stored with every example (e.g. ``"cells_train"``).
    mix : StripMix
        How often digits cross walls and strips are binarised.
    readings : bool
        Also every other reading the reader weighs (:class:`idreader.cells.Alternatives`:
        the cuts of touching digits, a box with a wall line given back, ...), each with
        its box's target, so that the model learns to read a digit with a stub of its
        neighbour or a piece of a wall left in it, and to doubt a piece of a digit.

    Examples
    --------
    >>> ex = strip_cells(digits, labels, 2, rng=np.random.default_rng(0),
    ...                  source="x")  # doctest: +SKIP
    """
    from idreader.cells import clean_cells
    from idreader.synth import make_strip

    images, targets = [], []
    for _ in range(n_strips):
        layout, distortion, dpi = random_conditions(rng, mix=mix)
        kind = rng.random(layout.n_boxes)
        boxes: list[np.ndarray | None] = []
        box_targets = []
        for k in kind:
            if k < BLANK_SHARE:
                boxes.append(None)
                box_targets.append(blank_target(1)[0])
            elif k < BLANK_SHARE + SCRIBBLE_SHARE:
                boxes.append((scribble_cells(1, rng=rng)[0] * 255).astype(np.uint8))
                box_targets.append(scribble_target(1)[0])
            else:
                i = int(rng.integers(len(labels)))
                boxes.append(digits[i])
                box_targets.append(one_hot(labels[i : i + 1])[0])
        strip, quads = make_strip(boxes, layout=layout, distortion=distortion, dpi=dpi, rng=rng)
        quads = jitter_quads(quads, rng=rng, amount=float(rng.uniform(0.0, 0.06)))
        cells = clean_cells(strip, strip_grid(quads, distortion.skew))
        images.append(cells.images)
        targets.extend(box_targets)
        for alt in cells.alternatives if readings else ():
            more = alt.images[1:]  # the first reading is the one in cells.images
            images.append(more.reshape(-1, 28, 28))
            targets.extend(box_targets[b] for _ in range(len(more)) for b in alt.boxes)
    out_images = np.concatenate(images) if images else np.zeros((0, 28, 28), np.float32)
    out_targets = np.asarray(targets, np.float32).reshape(-1, 11)
    return Examples(out_images, out_targets, np.full(len(out_targets), source))


def split_parts(
    data_dir: str | Path,
    *,
    strips: int,
    n_val: int = 5000,
    split_seed: int = 0,
    seed: int = 0,
    parts: tuple[str, ...] = ("train", "val", "test"),
) -> list[tuple[str, np.ndarray, np.ndarray, int, np.random.Generator]]:
    """What each cache part asked for is made from: (name, digits, labels, strips, rng).

    The train part gets ``strips`` strips of the MNIST training digits that
    :func:`training.data.train_val_split` keeps for training; validation and test get
    ``strips // 10`` each, from disjoint halves of the held-out validation digits.
    ``split_seed`` fixes which digits are held out; ``seed`` only the rendering (each
    part has a generator of its own).
    """
    train_digits, val_digits = train_val_split(load_mnist(data_dir), n_val=n_val, seed=split_seed)
    half = len(val_digits) // 2
    plan = {
        "train": (train_digits.images, train_digits.labels, strips, seed + 101),
        "val": (val_digits.images[:half], val_digits.labels[:half], strips // 10, seed + 202),
        "test": (val_digits.images[half:], val_digits.labels[half:], strips // 10, seed + 303),
    }
    return [(name, images, labels, n, np.random.default_rng(part_seed))
            for name, (images, labels, n, part_seed) in plan.items() if name in parts]  # fmt: skip


def build_cache(
    data_dir: str | Path,
    out: str | Path,
    *,
    strips: int,
    n_val: int = 5000,
    split_seed: int = 0,
    seed: int = 0,
    parts: tuple[str, ...] = ("train", "val", "test"),
    mix: StripMix = StripMix(),
    readings: bool = False,
) -> dict[str, Path]:
    """Write train/val/test cell caches ``<out>_{part}.npz``; returns their paths.

    Validation and test get ``strips // 10`` strips each, from disjoint halves of the
    held-out validation digits. ``split_seed`` must match the training run's ``--seed``
    (it fixes which digits are held out); ``seed`` only changes the rendering, so
    several caches can be combined. ``readings`` (:func:`strip_cells`) applies to the
    train part only: validation fits the temperature, and test is scored, on the
    cells the reader reads first.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    paths = {}
    plan = split_parts(data_dir, strips=strips, n_val=n_val, split_seed=split_seed, seed=seed,
                       parts=parts)  # fmt: skip
    for name, images, labels, n, rng in plan:
        examples = strip_cells(
            images,
            labels,
            n,
            rng=rng,
            source=f"cells_{name}",
            mix=mix,
            readings=readings and name == "train",
        )
        paths[name] = out.parent / f"{out.name}_{name}.npz"
        examples.save(paths[name])
        n_blank = int((examples.labels == BLANK).sum())
        log.info("%s: %d cells (%d blank) -> %s", name, len(examples), n_blank, paths[name])
    return paths


def add_cache_arguments(p: argparse.ArgumentParser, *, out: str, strips: int) -> None:
    """The options every cache builder takes (:func:`split_parts`, the cache prefix)."""
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    p.add_argument("--out", default=out, help="cache prefix")
    p.add_argument("--strips", type=int, default=strips, help="training strips (4-10 boxes)")
    p.add_argument("--split-seed", type=int, default=0, help="= the digit model's --seed")
    p.add_argument("--seed", type=int, default=0, help="rendering seed")
    p.add_argument("--parts", default="train,val,test", help="which caches to write")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cache_arguments(p, out="runs/cells/synth", strips=9000)
    p.add_argument(
        "--cross-share",
        type=float,
        default=StripMix.cross_share,
        help="share of strips with digits across walls",
    )
    p.add_argument(
        "--cross-border",
        type=float,
        default=StripMix.cross_border,
        help="in those strips, each digit's chance of being pushed across a wall",
    )
    p.add_argument(
        "--binarize-share",
        type=float,
        default=StripMix.binarize,
        help="share of strips thresholded to black and white",
    )
    p.add_argument(
        "--readings",
        action="store_true",
        help="train part: also every other reading of a box (cuts, wall given back, ...)",
    )
    args = p.parse_args(argv)
    build_cache(
        args.data_dir,
        args.out,
        strips=args.strips,
        split_seed=args.split_seed,
        seed=args.seed,
        parts=tuple(args.parts.split(",")),
        mix=StripMix(args.cross_share, args.cross_border, args.binarize_share),
        readings=args.readings,
    )


if __name__ == "__main__":
    main()
