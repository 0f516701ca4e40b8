"""Robustness of grid finding and cell cleaning under scanner effects (issue #4).

Builds a distortion suite with :mod:`idreader.synth` (handwriting from the MNIST *test*
set) and, per condition, measures

- grid found %: the chosen grid has the true number of boxes, the true page turn and a
  mean corner error under 10 % of the box side;
- ID exact %: the ID the reader gives (:func:`idreader.assemble.assemble` on the
  shipped model's reading, what ``idreader scan`` reports) is the true one;
- every box %: stricter, every box's likeliest class (digits and blanks) is right, as
  if each box were read alone (an ID has no blank inside it, which ``assemble`` knows
  and a box alone does not);
- cell accuracy %: boxes read right, over all boxes (a missed grid loses them all);
- flagged %: pages :func:`idreader.assemble.assemble` flags for review (no ``id_length``
  given, as ``idreader scan`` without ``--id-length``; a page without a grid counts as
  flagged, ``no_id_grid``), and wrong, not flagged: pages whose assembled ID is wrong
  and not flagged, the errors nobody would see (a wrongly found grid is read too);
- the time of ``find_id_grid`` + ``clean_cells`` per page, and as a ratio to a baseline
  measured on the same pages in the same run (a Gaussian blur and an Otsu threshold of
  the page), so the figure travels between machines.

Every condition cycles through the four layouts (joined, gapped, table, two_grids) and
4 to 16 boxes, unless it fixes one. Page i of every condition has the same writer: its
ID and handwriting follow from ``(--seed, i)`` alone, so that a difference between two
conditions is what the condition costs, not which MNIST digits it happened to draw (a
few of them are misread however clean the scan). Writes a markdown table (``--out``; into an
existing document between ``<!-- robustness-table -->`` markers).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_robustness.py \\
        --data-dir ../shared/data/mnist --pages 100 --seed 11 12 13 14 --jobs 2 \\
        --out docs/robustness.md

Several seeds are pooled into one row per condition (``--jobs`` runs them side by side):
with 100 pages, one page is a whole point of ID exact-match, as much as the target
allows between a condition and the clean one.

``--misread-dir DIR`` keeps a picture of every misread page (the grid above the cleaned
boxes the model read) and ``misread.tsv`` (truth, reading, wrong boxes, confidence).
"""

from __future__ import annotations

import argparse
import gzip
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
LAYOUTS = ("joined", "gapped", "table", "two_grids")
#: The per-condition counts a row holds, added up over seeds and over conditions.
COUNTS = ("pages", "found", "exact", "boxes_exact", "cells_right", "cells_total", "flagged",
          "silent")  # fmt: skip


@dataclass(frozen=True)
class Condition:
    """One row of the table: distortion fields, and optionally fixed layouts or dpis."""

    scan: dict = field(default_factory=dict)
    layouts: tuple[str, ...] = LAYOUTS
    dpis: tuple[int, ...] = (200,)
    skews: tuple[float, ...] = (0.0,)


CONDITIONS = {
    "clean": Condition(),
    "layout joined": Condition(layouts=("joined",)),
    "layout gapped": Condition(layouts=("gapped",)),
    "layout table": Condition(layouts=("table",)),
    "layout two_grids": Condition(layouts=("two_grids",)),
    "skew ±3°": Condition(skews=(3.0, -3.0)),
    "skew ±8°": Condition(skews=(8.0, -8.0)),
    "skew ±15°": Condition(skews=(15.0, -15.0)),
    "rotation 90": Condition({"rotation": 90}),
    "rotation 180": Condition({"rotation": 180}),
    "rotation 270": Condition({"rotation": 270}),
    "dpi 100": Condition(dpis=(100,)),
    "dpi 150": Condition(dpis=(150,)),
    "dpi 300": Condition(dpis=(300,)),
    "dpi 600": Condition(dpis=(600,)),
    "JPEG q40": Condition({"jpeg_quality": 40}),
    "noise σ20": Condition({"noise": 20.0}),
    "blur σ1.5": Condition({"blur": 1.5}),
    "binarised": Condition({"binarize": True}),
    "faint lines (grey 200)": Condition({"line_gray": 200}),
    "broken lines (20 %)": Condition({"broken_lines": 0.2}),
    "specks + stray marks": Condition({"specks": 30, "stray_marks": 6}),
    "digits crossing walls (push 15-30 %)": Condition(
        {"cross_border": 0.5, "cross_push": (0.15, 0.3)}
    ),
    "digits crossing walls (push 30-45 %)": Condition({"cross_border": 0.5}),
    "perspective 1 %": Condition({"perspective": 0.01}),
    "pencil (ink grey 90)": Condition({"ink_gray": 90}),
    "mixed: skew 5, noise, JPEG, blur": Condition(
        {"noise": 10.0, "jpeg_quality": 60, "blur": 1.0}, skews=(5.0, -5.0)
    ),
}


def load_digits(data_dir: Path) -> tuple[np.ndarray, np.ndarray, str]:
    """MNIST test images and labels from IDX gzip files, or the committed test slice."""
    images_path = data_dir / "t10k-images-idx3-ubyte.gz"
    if images_path.exists():
        with gzip.open(images_path) as f:
            images = np.frombuffer(f.read(), np.uint8, offset=16).reshape(-1, 28, 28)
        with gzip.open(data_dir / "t10k-labels-idx1-ubyte.gz") as f:
            labels = np.frombuffer(f.read(), np.uint8, offset=8)
        return images, labels, f"MNIST test set ({len(images)} digits, {data_dir})"
    with np.load(ROOT / "tests" / "data" / "mnist_test_2000.npz") as data:
        return data["images"], data["labels"], "tests/data slice (first 2,000 MNIST test digits)"


def make_cover(cond: Condition, i: int, digits: tuple[np.ndarray, np.ndarray], seed: int):
    """The i-th page of a condition: layout, box count, ID and distortion vary with i.

    The ID (a prefix of the same 16 digits in every condition) and the handwriting (the
    digit bank has a generator of its own, seeded by page) do not depend on ``cond``.
    """
    from idreader.synth import DigitBank, Distortion, Layout, make_page

    rng = np.random.default_rng([seed, i])
    kind = cond.layouts[i % len(cond.layouts)]
    n = int(rng.integers(4, 17))
    written = max(1, n - int(rng.integers(0, 3)))
    if kind == "table":
        n, written = 8, min(written, 8)
    student_id = "".join(str(d) for d in rng.integers(0, 10, 16))[:written]
    scan = dict(cond.scan, skew=cond.skews[i % len(cond.skews)] + float(rng.uniform(-0.5, 0.5)))
    distortion = Distortion(**scan)
    dpi = cond.dpis[i % len(cond.dpis)]
    # long rows need the page's width: move left, then shrink the boxes; a skewed page
    # must still hold every box (the synth turns the drawing and crops it)
    for position, box_mm in (((0.25, 0.22), 8.0), ((0.2, 0.22), 8.0), ((0.2, 0.22), 6.5),
                             ((0.2, 0.22), 5.5)):  # fmt: skip
        layout = Layout(kind=kind, n_boxes=n, box_mm=box_mm, position=position)
        bank = DigitBank(*digits, rng=np.random.default_rng([seed, i, 1]))
        try:
            page = make_page(student_id, bank, layout=layout, distortion=distortion, dpi=dpi,
                             rng=rng)  # fmt: skip
        except ValueError:
            continue
        height, width = page.upright().shape
        x, y = page.cells[..., 0], page.cells[..., 1]
        if x.min() >= 0 and y.min() >= 0 and x.max() < width and y.max() < height:
            return page
    raise ValueError(f"no layout fits {n} {kind} boxes")


def baseline_seconds(image: np.ndarray) -> float:
    start = time.perf_counter()
    cv2.threshold(cv2.GaussianBlur(image, (5, 5), 0), 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    return time.perf_counter() - start


def run_condition(
    name: str,
    cond: Condition,
    pages: int,
    digits: tuple[np.ndarray, np.ndarray],
    seed: int,
    classifier,
    misread_dir: Path | None = None,
    pairs=None,
    context=None,
) -> dict:
    from idreader.assemble import assemble
    from idreader.cells import clean_cells
    from idreader.grid import find_id_grid, upright

    found = exact = boxes_exact = cells_right = cells_total = flagged = silent = 0
    seconds, baseline = [], []
    for i in range(pages):
        page = make_cover(cond, i, digits, seed)
        truth = [int(c) for c in page.student_id] + [10] * (len(page.cells) - len(page.student_id))
        cells_total += len(truth)
        start = time.perf_counter()
        grid = find_id_grid(page.image)
        cells = image = None
        if grid is not None:
            image = upright(page.image, grid.rotation)
            cells = clean_cells(image, grid)
        seconds.append(time.perf_counter() - start)
        baseline.append(baseline_seconds(page.image))
        probs = resolved = reading = None
        if grid is None:
            flagged += 1
        elif classifier is not None:
            pair_probs = None if pairs is None else pairs.predict(cells.pair_inputs)
            context_probs = None if context is None else context.predict(cells.context_inputs)
            probs, resolved = cells.resolve(
                classifier.predict(cells.inputs), pair_probs, context_probs
            )
            reading = assemble(probs)
            flagged += reading.flagged
            silent += not reading.flagged and reading.student_id != page.student_id
        if grid is None or grid.n_cells != len(truth) or grid.rotation != page.upright_turn:
            continue
        side = float(np.linalg.norm(page.cells[:, 1] - page.cells[:, 0], axis=1).mean())
        if float(np.abs(grid.cells - page.cells).mean()) >= 0.1 * side:
            continue
        found += 1
        if probs is not None:
            predicted = probs.argmax(axis=1)
            right = int((predicted == np.array(truth)).sum())
            cells_right += right
            boxes_exact += right == len(truth)
            exact += reading.student_id == page.student_id
            if misread_dir is not None and right < len(truth):
                save_misread(misread_dir, f"{name} {seed} {i}", image, grid, resolved.images,
                             np.array(truth), probs)  # fmt: skip
    return {
        "name": name,
        "pages": pages,
        "found": found,
        "exact": exact,
        "boxes_exact": boxes_exact,
        "cells_right": cells_right,
        "cells_total": cells_total,
        "flagged": flagged,
        "silent": silent,
        "seconds": seconds,
        "baseline": baseline,
    }


def pool_rows(rows: list[dict]) -> dict:
    """One condition's rows from several seeds as one: counts added, the median time
    and the median ratio to the baseline over all their pages."""
    seconds = np.concatenate([r["seconds"] for r in rows])
    baseline = np.concatenate([r["baseline"] for r in rows])
    pooled = {k: sum(r[k] for r in rows) for k in COUNTS}
    return {
        "name": rows[0]["name"],
        **pooled,
        "ms": 1000 * float(np.median(seconds)),
        "ratio": float(np.median(seconds / baseline)),
    }


def save_misread(
    directory: Path,
    what: str,
    image: np.ndarray,
    grid,
    cells: np.ndarray,
    truth: np.ndarray,
    probs: np.ndarray,
) -> None:
    """Picture a misread page (its grid above the cleaned boxes the model read) and
    add a line about it to ``misread.tsv``: which boxes, read as what, how sure."""
    side = float(np.linalg.norm(grid.cells[:, 1] - grid.cells[:, 0], axis=1).mean())
    corners = grid.cells.reshape(-1, 2)
    x0, y0 = np.maximum(corners.min(axis=0) - side / 2, 0).astype(int)
    x1, y1 = (corners.max(axis=0) + side / 2).astype(int)
    strip = np.hstack([np.pad(c, 1, constant_values=0.5) for c in cells])
    strip = cv2.resize((strip * 255).astype(np.uint8), None, fx=3, fy=3,
                       interpolation=cv2.INTER_NEAREST)  # fmt: skip
    crop = image[y0:y1, x0:x1]
    height = max(1, round(crop.shape[0] * strip.shape[1] / crop.shape[1]))
    stem = re.sub(r"[^a-z0-9]+", "_", what.lower()).strip("_")
    cv2.imwrite(str(directory / f"{stem}.png"),
                np.vstack([cv2.resize(crop, (strip.shape[1], height)), strip]))  # fmt: skip
    read = probs.argmax(axis=1)
    wrong = np.flatnonzero(read != truth)
    with open(directory / "misread.tsv", "a") as f:
        f.write(f"{stem}\t{''.join(map(_glyph, truth))}\t{''.join(map(_glyph, read))}\t"
                f"{','.join(map(str, wrong))}\t"
                f"{','.join(f'{probs[k].max():.3f}' for k in wrong)}\n")  # fmt: skip


def _glyph(label: int) -> str:
    return "_" if label == 10 else str(label)


def markdown(rows: list[dict], header: str, with_model: bool) -> str:
    def pct(a: int, b: int) -> str:
        return f"{100 * a / b:.1f}" if b else "-"

    def read(r: dict) -> str:
        if not with_model:
            return "n/a | n/a | n/a | n/a | n/a"
        return (f"{pct(r['exact'], r['pages'])} | {pct(r['boxes_exact'], r['pages'])} "
                f"| {pct(r['cells_right'], r['cells_total'])} "
                f"| {pct(r['flagged'], r['pages'])} | {r['silent']}")  # fmt: skip

    clean = next((r for r in rows if r["name"] == "clean"), None)

    def below_clean(r: dict) -> str:
        if not with_model or clean is None:
            return "n/a"
        return f"{100 * (clean['exact'] / clean['pages'] - r['exact'] / r['pages']):.2f}"

    lines = [header, "", "| condition | pages | grid found % | ID exact % | every box % "
             "| cell accuracy % | flagged % | wrong, not flagged "
             "| clean's ID exact less this (points) | median ms / page | ratio to baseline |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]  # fmt: skip
    for r in rows:
        lines.append(
            f"| {r['name']} | {r['pages']} | {pct(r['found'], r['pages'])} | {read(r)} "
            f"| {below_clean(r)} | {r['ms']:.0f} | {r['ratio']:.1f} |"
        )
    total = {k: sum(r[k] for r in rows) for k in COUNTS}
    lines.append(
        f"| **all** | {total['pages']} | **{pct(total['found'], total['pages'])}** "
        f"| {read(total)} | | | |"
    )
    return "\n".join(lines) + "\n"


#: What each worker process loads once: the digits, the classifier, the misread folder.
_WORKER: dict = {}


def _start_worker(
    data_dir: Path,
    model: Path | None,
    no_model: bool,
    no_pairs: bool,
    no_context: bool,
    misread_dir,
) -> None:
    sys.path.insert(0, str(ROOT))
    images, labels, source = load_digits(data_dir)
    classifier = pairs = context = None
    if not no_model:
        from idreader.classifier import (
            READING_SHIFTS,
            ContextClassifier,
            DigitClassifier,
            PairClassifier,
        )

        # read as the Reader reads
        options = {"threads": 1, "shifts": READING_SHIFTS}
        classifier = DigitClassifier(model, **options)
        pairs = None if no_pairs else PairClassifier(**options)
        context = None if no_context else ContextClassifier(**options)
    _WORKER.update(digits=(images, labels), source=source, classifier=classifier,
                   pairs=pairs, context=context, misread_dir=misread_dir)  # fmt: skip


def _run(task: tuple[str, int, int]) -> dict:
    name, seed, pages = task
    worker = _WORKER
    return run_condition(name, CONDITIONS[name], pages, worker["digits"], seed,
                         worker["classifier"], worker["misread_dir"], worker["pairs"],
                         worker["context"])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/mnist")
    parser.add_argument("--pages", type=int, default=50, help="pages per condition and seed")
    parser.add_argument(
        "--seed", type=int, nargs="+", default=[2024], help="one or more seeds, pooled"
    )
    parser.add_argument("--jobs", type=int, default=1, help="processes (one core each)")
    parser.add_argument("--only", nargs="*", help="run only these conditions")
    parser.add_argument("--no-model", action="store_true", help="grid finding only")
    parser.add_argument("--model", type=Path, help="ONNX model to read with (default: shipped)")
    parser.add_argument(
        "--no-pairs", action="store_true", help="read touching digits from their cuts alone"
    )
    parser.add_argument(
        "--no-context",
        action="store_true",
        help="read boxes with a line given back from their readings alone",
    )
    parser.add_argument("--out", type=Path, help="write the markdown table here")
    parser.add_argument(
        "--misread-dir",
        type=Path,
        help="write a picture of every misread page here, and misread.tsv listing them",
    )
    args = parser.parse_args(argv)
    if args.misread_dir is not None:
        args.misread_dir.mkdir(parents=True, exist_ok=True)
        (args.misread_dir / "misread.tsv").write_text("page\ttruth\tread\tboxes\tconfidence\n")
    names = [name for name in CONDITIONS if not args.only or name in args.only]
    tasks = [(name, seed, args.pages) for seed in args.seed for name in names]
    setup = (args.data_dir, args.model, args.no_model, args.no_pairs, args.no_context,
             args.misread_dir)  # fmt: skip
    _start_worker(*setup)
    by_name: dict[str, list[dict]] = {name: [] for name in names}
    if args.jobs > 1:
        import multiprocessing

        with multiprocessing.get_context("spawn").Pool(args.jobs, _start_worker, setup) as pool:
            done = list(zip(tasks, pool.imap(_run, tasks), strict=True))
    else:
        done = ((task, _run(task)) for task in tasks)
    for (name, seed, _), r in done:
        by_name[name].append(r)
        cells = f"{r['cells_right']}/{r['cells_total']}"
        ms = 1000 * float(np.median(r["seconds"]))
        print(f"{name:34s} seed {seed}  found {r['found']}/{r['pages']}  exact {r['exact']}  "
              f"every box {r['boxes_exact']}  "
              f"cells {cells}  flagged {r['flagged']}  wrong unflagged {r['silent']}  "
              f"{ms:.0f} ms", flush=True)  # fmt: skip
    rows = [pool_rows(by_name[name]) for name in names]
    classifier = _WORKER["classifier"]
    version = classifier.info.version if classifier is not None else None
    if version is not None:
        for name, key in (("pair", "pairs"), ("context", "context")):
            used = _WORKER[key]
            version += f", {name} model {used.info.version if used is not None else 'not used'}"
    seeds = ", ".join(map(str, args.seed))
    header = (
        f"Digits: {_WORKER['source']}. Seed{'s' if len(args.seed) > 1 else ''} {seeds}; "
        f"{args.pages} pages per condition and seed; model {version or 'not used'}. "
        f"Baseline: Gaussian blur 5x5 + Otsu threshold of the same page."
    )
    table = markdown(rows, header, classifier is not None)
    print(table)
    if args.out:
        write_table(args.out, table)
    return 0


def write_table(path: Path, table: str) -> None:
    """Put the table between the markers of an existing document, or write it alone."""
    start, end = "<!-- robustness-table -->", "<!-- /robustness-table -->"
    text = path.read_text() if path.exists() else ""
    if start in text and end in text:
        head, rest = text.split(start, 1)
        text = f"{head}{start}\n{table}{end}{rest.split(end, 1)[1]}"
    else:
        text = table
    path.write_text(text)


if __name__ == "__main__":
    raise SystemExit(main())
