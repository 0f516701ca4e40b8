"""End-to-end speed: pages/s of a full read against rendering alone, and time per stage.

Builds a scanned exam PDF with ``idreader.synth`` (MNIST test digits from the committed
slice), then measures in the same run:

- render only: ``pages.iter_pages`` over every page (the lower bound of any reader);
- end to end: ``Reader.read`` (render, grid, cells, one batched model call, assembly);
- per stage: each stage function timed separately over the same pages.

The headline figure is the ratio end-to-end / render-only time, which is stable across
machines where absolute pages/s are not.

Usage::

    python benchmarks/bench_scan.py --pages 60 [--workers 1] [--out docs/performance.md]
"""

from __future__ import annotations

import argparse
import platform
import tempfile
from pathlib import Path

import numpy as np
from timing import best_of

from idreader import Reader
from idreader.assemble import assemble
from idreader.cells import clean_cells
from idreader.grid import find_id_grid, upright
from idreader.pages import iter_pages
from idreader.synth import DigitBank, Distortion, Layout, make_page, write_pdf

SLICE = Path(__file__).resolve().parents[1] / "tests" / "data" / "mnist_test_2000.npz"


def make_exam(path: Path, n_pages: int, dpi: int, seed: int = 0) -> None:
    rng = np.random.default_rng(seed)
    with np.load(SLICE) as data:
        bank = DigitBank(data["images"], data["labels"], rng=rng)
    pages = []
    for _ in range(n_pages):
        sid = "".join(str(d) for d in rng.integers(0, 10, 8))
        distortion = Distortion(
            skew=float(rng.uniform(-4, 4)), blur=0.7, noise=5.0, jpeg_quality=80
        )
        pages.append(make_page(sid, bank, layout=Layout(), distortion=distortion, rng=rng).image)
    write_pdf(pages, path, dpi=dpi)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=60)
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--out", type=Path, help="append a markdown table to this file")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        pdf = Path(tmp) / "bench.pdf"
        make_exam(pdf, args.pages, args.dpi)
        reader = Reader(id_length=8, dpi=args.dpi, workers=args.workers)
        reader.read(pdf)  # warm-up: model session, imports, page cache

        repeats = args.repeats
        render, images = best_of(repeats, lambda: [p.image for p in iter_pages(pdf, dpi=args.dpi)])
        full, _ = best_of(repeats, lambda: reader.read(pdf))
        t_grid, grids = best_of(repeats, lambda: [find_id_grid(im, id_length=8) for im in images])
        pairs = [(upright(im, g.rotation), g) for im, g in zip(images, grids, strict=True) if g]
        t_cells, cells = best_of(repeats, lambda: [clean_cells(im, g) for im, g in pairs])
        inputs = [[c.inputs for c in cells], [c.pair_inputs for c in cells],
                  [c.context_inputs for c in cells]]  # fmt: skip
        models = (reader.classifier, reader.pairs, reader.context)
        t_model, read = best_of(
            repeats,
            lambda: [m.predict(np.concatenate(x)) for m, x in zip(models, inputs, strict=True)],
        )
        split = [np.split(r, np.cumsum([len(v) for v in x])[:-1])
                 for r, x in zip(read, inputs, strict=True)]  # fmt: skip
        per_page = [c.resolve(*r)[0] for c, *r in zip(cells, *split, strict=True)]
        t_assemble, _ = best_of(repeats, lambda: [assemble(p, id_length=8) for p in per_page])

    n = args.pages
    rows = [
        ("render only (lower bound)", render),
        ("end to end (Reader.read)", full),
        ("  grid (find_id_grid)", t_grid),
        ("  cells (clean_cells)", t_cells),
        ("  models (one batched call each)", t_model),
        ("  assembly", t_assemble),
    ]
    lines = [
        f"### {n} pages, {args.dpi} dpi, workers={args.workers}, "
        f"{platform.processor() or platform.machine()}, best of {args.repeats}",
        "",
        "| stage | seconds | ms/page | pages/s |",
        "|---|---:|---:|---:|",
    ]
    lines += [f"| {name} | {t:.3f} | {1000 * t / n:.1f} | {n / t:.1f} |" for name, t in rows]
    lines += [
        "",
        f"End to end / render only: **{full / render:.2f}x** the time of rendering alone.",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if args.out:
        with args.out.open("a") as f:
            f.write(text + "\n")


if __name__ == "__main__":
    main()
