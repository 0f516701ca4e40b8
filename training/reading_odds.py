"""Weigh a box's readings on held-out cells: wall readings, the cuts of touching digits,
and the pair and the context models' readings.

:func:`idreader.cells.clean_cells` reads a box whose digit touches a ruled line also with
the line given back where the digit touches it, and
:func:`idreader.cell_split.prior_weights` weighs the readings by prior odds
(:data:`idreader.cell_split.WALL_ODDS`). Two digits that touch across a wall are read in
several cuts, weighed by :func:`idreader.cell_split.cut_weights` with a sharpness
(:data:`idreader.cell_split.CUT_SHARPNESS`), and read whole by the pair model, whose
reading :func:`idreader.cell_split.blend` mixes in with a weight
(:data:`idreader.cell_split.PAIR_WEIGHT`); the context model reads a box with wall
readings as scanned, mixed in likewise (:data:`idreader.cell_split.CONTEXT_WEIGHT`).
This renders ID strips of digits the models were not trained on, cleans them once,
reads every reading once, and resolves the boxes again for each value tried, so that
all four are chosen on validation digits and never on the benchmarks' test digits.

Usage::

    OMP_NUM_THREADS=1 python -m training.reading_odds --data-dir ../shared/data/mnist \\
        --strips 1500 --seed 77 --mix crossing
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, replace

import numpy as np

from idreader.cell_split import CONTEXT_WEIGHT, CUT_SHARPNESS, PAIR_WEIGHT, WALL_ODDS

from .cells_data import MIXES, StripMix, digit_strip
from .data import DEFAULT_DATA_DIR, load_mnist, train_val_split


@dataclass(frozen=True)
class Setting:
    """The values :meth:`idreader.cells.Cells.resolve` is tried with (default: shipped)."""

    odds: float = WALL_ODDS
    sharpness: float = CUT_SHARPNESS
    pair_weight: float = PAIR_WEIGHT
    context_weight: float = CONTEXT_WEIGHT


@dataclass(frozen=True)
class OddsRow:
    """How the boxes read with one setting."""

    setting: Setting
    boxes: int
    right: int
    sure_wrong: int
    strips_right: int


def read_strips(digits, labels, n_strips: int, *, rng: np.random.Generator, mix: StripMix):
    """Render and clean ``n_strips`` strips (a tenth of boxes blank) and read them.

    Returns a list of (cells, digit model output for ``cells.inputs``, pair model
    output for ``cells.pair_inputs``, context model output for
    ``cells.context_inputs``, true classes).
    """
    from idreader.cells import clean_cells
    from idreader.classifier import (
        READING_SHIFTS,
        ContextClassifier,
        DigitClassifier,
        PairClassifier,
    )

    # read as the Reader reads
    options = {"threads": 1, "shifts": READING_SHIFTS}
    classifier, pairs = DigitClassifier(**options), PairClassifier(**options)
    context = ContextClassifier(**options)
    read = []
    for _ in range(n_strips):
        strip, grid, truth = digit_strip(digits, labels, rng=rng, mix=mix, blank_share=0.1)
        cells = clean_cells(strip, grid)
        read.append((cells, classifier.predict(cells.inputs), pairs.predict(cells.pair_inputs),
                     context.predict(cells.context_inputs), truth))  # fmt: skip
    return read


def with_wall_odds(
    odds: tuple[float, ...], walls: tuple[bool, ...], wall: float
) -> tuple[float, ...]:
    """A box's reading odds with the wall readings' share (``walls``: which readings have
    a line given back, :class:`idreader.cells.Alternatives`) set to ``wall``.

    Examples
    --------
    >>> with_wall_odds((1.0, 0.5, 1.0, 0.5), (False, False, True, True), 0.25)
    (1.0, 0.5, 0.25, 0.125)
    >>> with_wall_odds((1.0, 0.5), (False, False), 0.25)
    (1.0, 0.5)
    """
    return tuple(o * wall / WALL_ODDS if w else o for o, w in zip(odds, walls, strict=True))


def has_wall_readings(alt) -> bool:
    """Whether one of :class:`idreader.cells.Alternatives` reads a box with a line given back."""
    return any(alt.walls)


def resolve_with(
    cells,
    probs: np.ndarray,
    pair_probs: np.ndarray | None,
    setting: Setting,
    context_probs: np.ndarray | None = None,
) -> np.ndarray:
    """:meth:`idreader.cells.Cells.resolve` with the wall readings' odds, the cuts'
    sharpness and the two models' weights set as ``setting`` says."""
    from idreader.cells import Cells

    alternatives = tuple(
        replace(alt, odds=with_wall_odds(alt.odds, alt.walls, setting.odds))
        for alt in cells.alternatives
    )
    return Cells(cells.images, cells.ink, alternatives).resolve(
        probs,
        pair_probs,
        context_probs,
        cut_sharpness=setting.sharpness,
        pair_weight=setting.pair_weight,
        context_weight=setting.context_weight,
    )[0]


def odds_rows(read, settings: list[Setting]) -> list[OddsRow]:
    """Resolve every strip's boxes with each setting and count what reads right."""
    rows = []
    for setting in settings:
        boxes = right = sure_wrong = strips_right = 0
        for cells, probs, pair_probs, context_probs, truth in read:
            resolved = resolve_with(cells, probs, pair_probs, setting, context_probs)
            wrong = resolved.argmax(axis=1) != truth
            boxes += len(truth)
            right += int((~wrong).sum())
            sure_wrong += int((wrong & (resolved.max(axis=1) >= 0.99)).sum())
            strips_right += not wrong.any()
        rows.append(OddsRow(setting, boxes, right, sure_wrong, strips_right))
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data-dir", default=DEFAULT_DATA_DIR)
    p.add_argument("--strips", type=int, default=1500)
    p.add_argument("--seed", type=int, default=77, help="rendering seed")
    p.add_argument("--mix", choices=sorted(MIXES), default="crossing")
    p.add_argument(
        "--odds",
        type=float,
        nargs="+",
        default=[0.0, 0.25, 0.5, 1.0, 2.0],
        help="wall odds to try (with the shipped cut sharpness)",
    )
    p.add_argument(
        "--sharpness",
        type=float,
        nargs="+",
        default=[0.1, 0.25, 0.5, 1.0],
        help="cut sharpness to try (with the shipped wall odds)",
    )
    p.add_argument(
        "--pair-weight",
        type=float,
        nargs="+",
        default=[0.0, 0.25, 0.5, 0.75, 1.0],
        help="pair model weights to try (with the shipped odds and sharpness)",
    )
    p.add_argument(
        "--context-weight",
        type=float,
        nargs="+",
        default=[0.0, 0.3, 0.5, 0.7, 1.0],
        help="context model weights to try (with the other values shipped)",
    )
    args = p.parse_args(argv)

    _, val = train_val_split(load_mnist(args.data_dir), n_val=5000, seed=0)
    read = read_strips(val.images, val.labels, args.strips,
                       rng=np.random.default_rng(args.seed), mix=MIXES[args.mix])  # fmt: skip
    walls = sum(has_wall_readings(alt) for cells, *_ in read for alt in cells.alternatives)
    print(f"{args.mix}: {args.strips} strips, {sum(len(t) for *_, t in read)} boxes, "
          f"{walls} with wall readings")  # fmt: skip
    pairs = sum(not alt.odds for cells, *_ in read for alt in cells.alternatives)
    print(f"{pairs} pairs of touching digits")
    settings = [Setting(odds=wall) for wall in args.odds]
    settings += [Setting(sharpness=sharpness) for sharpness in args.sharpness]
    settings += [Setting(pair_weight=weight) for weight in args.pair_weight]
    settings += [Setting(context_weight=weight) for weight in args.context_weight]
    for row in odds_rows(read, settings):
        s = row.setting
        print(f"wall odds {s.odds:g}, cut sharpness {s.sharpness:g}, "
              f"pair weight {s.pair_weight:g}, context weight {s.context_weight:g}: "
              f"boxes right {100 * row.right / row.boxes:.2f} % "
              f"({row.boxes - row.right} wrong, {row.sure_wrong} at 0.99 or more), "
              f"strips right {row.strips_right}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
