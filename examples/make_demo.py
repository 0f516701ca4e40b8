"""Generate the demo exam stack: examples/demo_exams.pdf and its class list and truth.

24 scanned exam covers with 8-digit student numbers handwritten by MNIST test writers
(the tidier 70 % of tests/data/mnist_test_2000.npz, so the demo is reproducible from the
repository alone), scanned at 150 dpi so that the PDF stays under 2 MB,
mostly in a "Student number" table, with mild scan distortions: skew up to 4 degrees,
blur, noise, JPEG at quality 75, one page scanned upside down. Two pages deserve a
human's look: one cover has no ID written, one has a sloppy digit (two digits of
different classes blended into one box; the truth is the digit the student meant).

The class list names the 23 students who wrote an ID (the sloppy cover's writer included,
so that matching can settle that page) plus 6 who are not in the stack.

Run from anywhere (the output is identical for the same seed)::

    python examples/make_demo.py                     # writes into examples/
    python examples/make_demo.py --out-dir /tmp/demo --seed 7
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))  # use this checkout's idreader, installed or not

from idreader.synth import (  # noqa: E402
    DigitBank,
    Distortion,
    Layout,
    make_page,
    write_pdf,
    write_truth_csv,
)

N_PAGES = 24
BLANK_PAGE = 9  # 1-based: the cover without an ID
SLOPPY_PAGE = 17  # the cover with a blended, ambiguous digit
UPSIDE_DOWN_PAGE = 21
SLOPPY_BOX, SLOPPY_PAIR = 5, (4, 9)  # the student meant 4; the box also looks like a 9
NAMES = tuple(  # made up
    """Amara Okafor, Liam Chen, Sofia Rossi, Noah Williams, Aiko Tanaka, Mateo Garcia,
    Zara Ahmed, Lucas Martin, Priya Patel, Ethan Brown, Chloe Dubois, Omar Haddad,
    Mia Johansson, Kwame Mensah, Elena Petrova, Jack Murphy, Yuki Sato, Isabela Costa,
    Daniel Kim, Fatima Zahra, Oliver Smith, Ava Nguyen, Leon Schmidt, Nadia Rahman,
    Samuel Adeyemi, Hannah Lee, Diego Alvarez, Ingrid Larsen, Tomas Novak""".split(",")
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", type=Path, default=Path(__file__).resolve().parent)
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--dpi", type=int, default=150)
    args = parser.parse_args(argv)

    rng = np.random.default_rng(args.seed)
    with np.load(REPO / "tests" / "data" / "mnist_test_2000.npz") as data:
        images, labels = data["images"], data["labels"]
    bank = DigitBank(*_tidy(images, labels), rng=rng)

    ids = _student_ids(len(NAMES), rng)
    writer = iter(ids[: N_PAGES - 1])  # every cover but the blank one has a writer
    pages, truth = [], []
    for number in range(1, N_PAGES + 1):
        student_id = "" if number == BLANK_PAGE else next(writer)
        digits = None
        if number == SLOPPY_PAGE:
            meant = list(student_id)
            meant[SLOPPY_BOX] = str(SLOPPY_PAIR[0])
            student_id = "".join(meant)
            digits = [bank.draw(int(c)) for c in student_id]
            digits[SLOPPY_BOX] = _blend(bank, *SLOPPY_PAIR)
        page = make_page(
            student_id,
            bank,
            layout=_layout(number, rng),
            distortion=_distortion(number, rng),
            dpi=args.dpi,
            rng=rng,
            digits=digits,
        )
        pages.append(page.image)
        truth.append(("demo_exams.pdf", number, student_id))

    args.out_dir.mkdir(parents=True, exist_ok=True)
    write_pdf(pages, args.out_dir / "demo_exams.pdf", dpi=args.dpi, jpeg_quality=75)
    write_truth_csv(truth, args.out_dir / "demo_expected.csv")
    written = [student_id for _, _, student_id in truth if student_id]
    _write_classlist(args.out_dir / "demo_classlist.csv", written, ids[N_PAGES - 1 :], rng)
    return 0


def _tidy(images: np.ndarray, labels: np.ndarray, keep: float = 0.7) -> tuple[np.ndarray, ...]:
    """The ``keep`` fraction of each digit's images closest to that digit's mean image.

    MNIST has some digits that a person could not read either; the demo wants one
    deliberately sloppy cover, not several accidental ones.
    """
    flat = images.reshape(len(images), -1).astype(np.float32)
    flat -= flat.mean(axis=1, keepdims=True)
    flat /= np.linalg.norm(flat, axis=1, keepdims=True)
    chosen = []
    for digit in range(10):
        idx = np.flatnonzero(labels == digit)
        mean = flat[idx].mean(axis=0)
        score = flat[idx] @ (mean / np.linalg.norm(mean))
        chosen.append(idx[score >= np.quantile(score, 1 - keep)])
    order = np.sort(np.concatenate(chosen))
    return images[order], labels[order]


def _student_ids(n: int, rng: np.random.Generator) -> list[str]:
    """``n`` distinct 8-digit IDs, about a quarter with a leading zero."""
    ids: list[str] = []
    while len(ids) < n:
        first = "0" if rng.random() < 0.25 else str(rng.integers(1, 10))
        candidate = first + "".join(str(d) for d in rng.integers(0, 10, 7))
        if candidate not in ids:
            ids.append(candidate)
    return ids


def _blend(bank: DigitBank, meant: int, other: int) -> np.ndarray:
    """A digit written over another: the stronger ``meant`` stroke and a fainter ``other``."""
    mix = 0.6 * bank.draw(meant).astype(np.float32) + 0.5 * bank.draw(other)
    return np.clip(mix * 255.0 / mix.max(), 0, 255).astype(np.uint8)


def _layout(number: int, rng: np.random.Generator) -> Layout:
    kind = "table"
    if number % 6 == 2:
        kind = "joined"
    elif number % 6 == 4:
        kind = "gapped"
    elif number in (11, 23):
        kind = "two_grids"
    position = (rng.uniform(0.22, 0.3), rng.uniform(0.2, 0.26))
    return Layout(kind=kind, n_boxes=8, position=position)


def _distortion(number: int, rng: np.random.Generator) -> Distortion:
    return Distortion(
        skew=float(rng.uniform(-4.0, 4.0)),
        rotation=180 if number == UPSIDE_DOWN_PAGE else 0,
        blur=float(rng.uniform(0.3, 0.9)),
        noise=float(rng.uniform(0.5, 1.5)),
        perspective=float(rng.uniform(0.0, 0.004)),
        line_gray=int(rng.integers(0, 60)),
        ink_gray=90 if number == 5 else int(rng.integers(0, 50)),  # page 5 in pencil
        background=int(rng.integers(238, 256)),
        specks=int(rng.integers(0, 6)),
        stray_marks=int(rng.integers(0, 3)),
        stroke_scale=float(rng.uniform(0.9, 1.4)),
    )


def _write_classlist(
    path: Path, wrote: list[str], absent: list[str], rng: np.random.Generator
) -> None:
    """``id,name`` rows: the students who wrote an ID and some who are not in the stack."""
    rows = [(sid, NAMES[i].strip()) for i, sid in enumerate(wrote + absent)]
    order = rng.permutation(len(rows))
    with open(path, "w", newline="", encoding="utf-8") as handle:
        out = csv.writer(handle)
        out.writerow(["id", "name"])
        out.writerows(rows[i] for i in order)


if __name__ == "__main__":
    sys.exit(main())
