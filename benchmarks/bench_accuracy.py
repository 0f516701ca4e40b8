"""Accuracy of the whole reader on synthetic scans, and the choice of the flag threshold.

Generates exam covers with :mod:`idreader.synth` (MNIST *test* digits only, so nothing
the model was trained on; moderate scan distortions; 5 % of pages left blank), writes
them as PDFs, reads them with :class:`idreader.Reader` (``id_length=8``) against a
class list holding the writers plus 20 % extra students (2 % of writers are missing
from it, each with a listed one-digit neighbour), and reports:

- without the class list: exact-ID accuracy, flag rate, silent errors (unflagged and
  wrong), calibration (confidence vs observed accuracy) and, for a range of
  confidence thresholds, the flag rate against the accuracy of unflagged pages;
- with the class list: correct matches and unflagged wrong matches, both under the
  reader's flags (reading + match reasons) and under match reasons alone.

Per-page records go to a JSON file so the tables can be rebuilt without re-reading
(``--records FILE --from-records``).

Usage (from the repository root)::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_accuracy.py --pages 2000 \\
        --out docs/accuracy.md --records /tmp/accuracy_records.json
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
THRESHOLDS = (0.5, 0.7, 0.8, 0.85, 0.9, 0.93, 0.95, 0.97, 0.98, 0.99, 0.995)
CALIBRATION_BINS = (0.0, 0.5, 0.8, 0.9, 0.95, 0.99, 0.999, 1.0)
#: Reasons that depend on the confidence threshold; recomputed per threshold.
THRESHOLD_REASONS = {"low_confidence", "low_match_margin"}
#: Reasons a class-list match cannot clear: the page itself is unusable.
PAGE_REASONS = {"no_id_grid", "read_error"}
TARGET_SILENT = 0.002
MATCH_REASONS = {"not_in_classlist", "duplicate_id", "low_match_margin"}
PRIORS = (0.001, 0.01, 0.05, 0.2)


def random_distortion(rng: np.random.Generator):
    """Moderate scan distortions: what a decent office scanner does to a cover."""
    from idreader.synth import Distortion

    return Distortion(
        skew=float(rng.uniform(-3, 3)),
        rotation=int(rng.choice([0, 180], p=[0.9, 0.1])),
        blur=float(rng.uniform(0.3, 1.2)),
        noise=float(rng.uniform(2, 8)),
        jpeg_quality=[None, 70, 85][int(rng.integers(3))],
        perspective=float(rng.uniform(0, 0.004)),
        line_gray=int(rng.integers(0, 120)),
        ink_gray=int(rng.integers(0, 80)),
        stroke_scale=float(rng.uniform(0.8, 1.3)),
        specks=int(rng.integers(0, 6)),
        stray_marks=int(rng.integers(0, 3)),
    )


def random_layout(rng: np.random.Generator):
    from idreader.synth import LAYOUT_KINDS, Layout

    return Layout(
        kind=str(rng.choice(LAYOUT_KINDS)),
        n_boxes=int(rng.choice([8, 10], p=[0.7, 0.3])),
        box_mm=float(rng.uniform(7, 9)),
        position=(float(rng.uniform(0.22, 0.35)), float(rng.uniform(0.12, 0.3))),
    )


def make_exams(args: argparse.Namespace, tmp: Path) -> tuple[list[Path], list[dict], list]:
    """Write the PDFs; return them, each page's truth and the class list.

    A page's truth is ``{"truth": written ID ("" = blank), "on_list": bool}``. Writers
    left off the list get a listed student whose ID differs from theirs in one digit:
    the case where forcing a match would be wrong but look plausible.
    """
    sys.path.insert(0, str(ROOT))
    from idreader.classlist import Student
    from idreader.synth import DigitBank, make_page, write_pdf
    from training.data import load_mnist

    rng = np.random.default_rng(args.seed)
    test = load_mnist(args.data_dir, subset="test")  # t10k only: never seen in training
    bank = DigitBank(test.images, test.labels, rng=rng)
    n_students = int(round(args.pages * (1 + args.extra)))
    ids = [f"{i:08d}" for i in rng.choice(10**8, size=n_students, replace=False)]
    writers = [ids[k] for k in rng.permutation(n_students)[: args.pages]]
    off = set(rng.choice(writers, size=int(round(args.off_list * args.pages)), replace=False))
    listed = [sid for sid in ids if sid not in off]
    for sid in sorted(off):
        k = int(rng.integers(8))
        neighbour = sid[:k] + str((int(sid[k]) + int(rng.integers(1, 10))) % 10) + sid[k + 1 :]
        if neighbour not in listed and neighbour not in off:
            listed.append(neighbour)
    students = [Student(sid, f"Student {k}") for k, sid in enumerate(listed)]
    layouts = [random_layout(rng) for _ in writers]
    truths = [
        {
            "truth": "" if rng.random() < args.blank else sid,
            "on_list": sid not in off,
            "layout": layout.kind,
            "boxes": layout.n_boxes,
        }
        for sid, layout in zip(writers, layouts, strict=True)
    ]
    pdfs = []
    for start in range(0, args.pages, args.chunk):  # chunks keep memory small
        images = [
            make_page(
                t["truth"],
                bank,
                layout=layout,
                distortion=random_distortion(rng),
                dpi=args.dpi,
                rng=rng,
            ).image
            for t, layout in zip(
                truths[start : start + args.chunk],
                layouts[start : start + args.chunk],
                strict=True,
            )
        ]
        pdfs.append(tmp / f"exam_{start // args.chunk:03d}.pdf")
        write_pdf(images, pdfs[-1], dpi=args.dpi)
    return pdfs, truths, students


def read_records(args: argparse.Namespace) -> dict:
    """Generate, read, and return the per-page records (truth + what idreader said).

    The reader's call to ``classlist.match`` is observed (not changed) to keep every
    page's box probabilities, so other off-list priors can be evaluated offline.
    """
    import idreader.reader as reader_module
    from idreader import Reader

    seen: dict = {}
    real_match = reader_module.match

    def observed_match(page_probs, students, **options):
        seen["probs"] = [None if p is None else np.asarray(p).tolist() for p in page_probs]
        seen["students"] = [s.id for s in students]
        return real_match(page_probs, students, **options)

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pdfs, truths, students = make_exams(args, Path(tmp))
        t_make = time.perf_counter() - start
        reader = Reader(id_length=8, dpi=args.dpi)
        start = time.perf_counter()
        reader_module.match = observed_match
        try:
            result = reader.read(pdfs, classlist=students)
        finally:
            reader_module.match = real_match
        t_read = time.perf_counter() - start
    pages = []
    for truth, r in zip(truths, result.results, strict=True):
        m = r.match
        pages.append(
            {
                **truth,
                "student_id": r.student_id,
                "confidence": r.confidence,
                "reasons": list(r.reasons),
                "match": None if m is None else [m.id, m.confidence, m.margin],
            }
        )
    return {
        "pages": pages,
        **seen,
        "model_version": result.model_version,
        "seconds_generate": round(t_make, 1),
        "seconds_read": round(t_read, 1),
        "args": {k: str(v) for k, v in vars(args).items()},
    }


def rematch(records: dict, off_list_prior: float) -> list[dict]:
    """The pages as they would be with another off-list prior (match fields replaced)."""
    from idreader.classlist import Student, match

    probs = [None if p is None else np.array(p) for p in records["probs"]]
    a = match(probs, [Student(s) for s in records["students"]], off_list_prior=off_list_prior)
    out = []
    for page, m, extra in zip(records["pages"], a.matches, a.reasons, strict=True):
        reading = [r for r in page["reasons"] if r not in MATCH_REASONS]
        out.append(
            {
                **page,
                "reasons": reading + list(extra),
                "match": None if m is None else [m.id, m.confidence, m.margin],
            }
        )
    return out


def prior_table(records: dict, threshold: float) -> list[str]:
    lines = [
        "| off_list_prior | correct matches | flag rate (reader / match only) "
        "| unflagged wrong: on list | off list |",
        "|---:|---:|---:|---:|---:|",
    ]
    for prior in PRIORS:
        pages = rematch(records, prior)
        both = rates(pages, threshold, with_match=True, reading_flags=True)
        alone = rates(pages, threshold, with_match=True, reading_flags=False)
        wrong = [
            p
            for p in pages
            if not correct(p, with_match=True)
            and not flags(p, threshold, with_match=True, reading_flags=False)
        ]
        on = sum(p["on_list"] for p in wrong)
        lines.append(
            f"| {prior:g} | {both['correct']:.2%} | {both['flag_rate']:.1%} / "
            f"{alone['flag_rate']:.1%} | {on} | {len(wrong) - on} |"
        )
    return lines


def flags(page: dict, threshold: float, *, with_match: bool, reading_flags: bool) -> bool:
    """Whether the page is flagged at ``threshold`` (threshold reasons recomputed)."""
    reasons = set(page["reasons"]) - THRESHOLD_REASONS
    if not with_match:
        reasons -= {"not_in_classlist", "duplicate_id"}
    elif not reading_flags:
        reasons &= PAGE_REASONS | {"not_in_classlist", "duplicate_id"}
    flagged = bool(reasons)
    if not with_match or reading_flags:
        flagged |= page["confidence"] < threshold
    if with_match and page["match"] is not None:
        flagged |= page["match"][1] < threshold
    return flagged


def correct(page: dict, *, with_match: bool) -> bool:
    """Read exactly (blank as None), or matched to the writer (nobody if off the list)."""
    truth = page["truth"] or None
    if with_match:
        expected = truth if page["on_list"] else None
        return (page["match"][0] if page["match"] else None) == expected
    return page["student_id"] == truth


def rates(pages: list[dict], threshold: float, **mode: bool) -> dict:
    n = len(pages)
    ok = np.array([correct(p, with_match=mode["with_match"]) for p in pages])
    fl = np.array([flags(p, threshold, **mode) for p in pages])
    unflagged = ~fl
    return {
        "correct": ok.mean(),
        "flag_rate": fl.mean(),
        "unflagged_accuracy": ok[unflagged].mean() if unflagged.any() else float("nan"),
        "silent": int((~ok & unflagged).sum()),
        "silent_rate": (~ok & unflagged).sum() / n,
    }


def upper_bound(events: int, n: int) -> float:
    """One-sided 95 % Clopper-Pearson upper bound of a rate seen ``events`` times in ``n``."""
    from scipy.stats import beta

    return 1.0 if events >= n else float(beta.ppf(0.95, events + 1, n - events))


def threshold_table(pages: list[dict], **mode: bool) -> list[str]:
    lines = [
        "| threshold | flag rate | accuracy of unflagged | silent errors (rate) |",
        "|---:|---:|---:|---:|",
    ]
    for t in THRESHOLDS:
        r = rates(pages, t, **mode)
        kept = "-" if np.isnan(r["unflagged_accuracy"]) else f"{r['unflagged_accuracy']:.2%}"
        lines.append(
            f"| {t:g} | {r['flag_rate']:.1%} | {kept} | {r['silent']} ({r['silent_rate']:.2%}) |"
        )
    return lines


def calibration_table(pages: list[dict]) -> list[str]:
    """Observed accuracy per confidence bin, for pages where an ID was read."""
    read = [p for p in pages if p["student_id"] is not None]
    conf = np.array([p["confidence"] for p in read])
    ok = np.array([correct(p, with_match=False) for p in read])
    lines = ["| confidence | pages | mean confidence | observed accuracy |", "|---|---:|---:|---:|"]
    edges = CALIBRATION_BINS
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        inside = (conf >= lo) & ((conf < hi) if hi < 1.0 else (conf <= hi))
        if inside.any():
            lines.append(
                f"| [{lo:g}, {hi:g}{']' if hi == 1.0 else ')'} | {int(inside.sum())} | "
                f"{conf[inside].mean():.4f} | {ok[inside].mean():.4f} |"
            )
    ece = sum(
        abs(conf[b].mean() - ok[b].mean()) * b.sum() / len(conf)
        for lo, hi in zip(edges[:-1], edges[1:], strict=True)
        for b in [(conf >= lo) & ((conf < hi) if hi < 1.0 else (conf <= hi))]
        if b.any()
    )
    lines.append(f"\nExpected calibration error over these bins: {ece:.4f}.")
    return lines


def recommend(pages: list[dict]) -> float:
    """Lowest threshold whose silent-error rate (no class list) meets the target."""
    ok = [
        t
        for t in THRESHOLDS
        if rates(pages, t, with_match=False, reading_flags=True)["silent_rate"] <= TARGET_SILENT
    ]
    return ok[0] if ok else THRESHOLDS[-1]


def grid_table(records: dict) -> list[str]:
    """Per layout: pages whose grid was found with the drawn number of boxes."""
    lines = [
        "| layout | pages | grid with the drawn box count | other box count | no grid |",
        "|---|---:|---:|---:|---:|",
    ]
    rows: dict[str, list[int]] = {}
    for page, probs in zip(records["pages"], records["probs"], strict=True):
        row = rows.setdefault(page["layout"], [0, 0, 0, 0])
        row[0] += 1
        if probs is None:
            row[3] += 1
        else:
            row[1 if len(probs) == page["boxes"] else 2] += 1
    for kind, (n, right, other, none) in sorted(rows.items()):
        lines.append(f"| {kind} | {n} | {right} | {other} | {none} |")
    return lines


def report(records: dict, command: str) -> str:
    pages = records["pages"]
    n = len(pages)
    blank = sum(not p["truth"] for p in pages)
    off = sum(not p["on_list"] for p in pages)
    chosen = recommend(pages)
    read = rates(pages, chosen, with_match=False, reading_flags=True)
    both = rates(pages, chosen, with_match=True, reading_flags=True)
    match_only = rates(pages, chosen, with_match=True, reading_flags=False)
    args = records["args"]
    out = [
        "# Accuracy",
        "",
        "Measured by `benchmarks/bench_accuracy.py` (this file is its output):",
        "",
        f"    {command}",
        "",
        f"{n} synthetic exam covers ({blank} with a blank ID box), {args['dpi']} dpi, "
        "handwriting from the MNIST *test* set (t10k, never used in training), moderate "
        "scan distortions (skew up to 3 degrees, 10 % upside down, blur, noise, JPEG, "
        "slight perspective, faint lines and ink, specks, stray marks), four grid layouts, "
        "8 or 10 boxes for an 8-digit ID. Read with `Reader(id_length=8)` against a class "
        f"list of the writers plus {float(args['extra']):.0%} extra students; "
        f"{off} writers ({float(args['off_list']):.0%}) are missing from the list, each "
        "with a listed student whose ID differs from theirs in one digit. "
        f"Model `{records['model_version']}`; generating took {records['seconds_generate']} s "
        f"and reading {records['seconds_read']} s on a shared 2-core machine "
        "(OMP_NUM_THREADS=1).",
        "",
        f"## Without a class list (threshold {chosen:g})",
        "",
        f"- exact ID (blank pages count as right when read as blank): {read['correct']:.2%}",
        f"- pages flagged for review: {read['flag_rate']:.1%}",
        f"- accuracy of unflagged pages: {read['unflagged_accuracy']:.2%}",
        f"- silent errors (wrong and unflagged): {read['silent']} of {n} "
        f"({read['silent_rate']:.2%}; target <= {TARGET_SILENT:.1%}; 95 % upper bound "
        f"{upper_bound(read['silent'], n):.2%})",
        "",
        "Flag rate against the accuracy of what is left unflagged, per threshold "
        "(`confidence_threshold`; the other reasons do not depend on it):",
        "",
        *threshold_table(pages, with_match=False, reading_flags=True),
        "",
        "Calibration: `confidence` against how often the ID was exactly right.",
        "",
        *calibration_table(pages),
        "",
        f"## With the class list (threshold {chosen:g})",
        "",
        "A page counts as correctly matched when it is assigned to its writer (blank pages "
        "and writers missing from the list: to nobody).",
        "",
        "| flags | correct matches | flag rate | unflagged wrong matches |",
        "|---|---:|---:|---:|",
        f"| reading + match reasons (the reader today) | {both['correct']:.2%} | "
        f"{both['flag_rate']:.1%} | {both['silent']} |",
        f"| match reasons only | {match_only['correct']:.2%} | {match_only['flag_rate']:.1%} "
        f"| {match_only['silent']} |",
        "",
        f"95 % upper bounds of the unflagged-wrong-match rate: "
        f"{upper_bound(both['silent'], n):.2%} and {upper_bound(match_only['silent'], n):.2%}.",
        "",
        "Other values of `match(..., off_list_prior=)` on the same pages (the reader "
        "uses the default); unflagged wrong matches counted under match reasons only:",
        "",
        *prior_table(records, chosen),
        "",
        "Match reasons only, per threshold (`low_match_margin` when the match posterior is "
        "below it):",
        "",
        *threshold_table(pages, with_match=True, reading_flags=False),
        "",
        "## Where the misreads come from",
        "",
        "A grid found with the wrong number of boxes cannot give the right ID (it is "
        "flagged `unexpected_length` or `low_confidence`):",
        "",
        *grid_table(records),
        "",
        "## Choosing the default threshold",
        "",
        f"The lowest threshold above whose silent-error rate without a class list is at most "
        f"{TARGET_SILENT:.1%} is **{chosen:g}**. A higher threshold buys little safety for "
        "many more flagged pages; see the first table.",
    ]
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=600)
    parser.add_argument("--data-dir", type=Path, default=ROOT.parent / "shared/data/mnist")
    parser.add_argument("--dpi", type=int, default=200)
    parser.add_argument("--blank", type=float, default=0.05, help="fraction of blank IDs")
    parser.add_argument("--extra", type=float, default=0.2, help="extra students on the list")
    parser.add_argument(
        "--off-list", type=float, default=0.02, help="writers missing from the list"
    )
    parser.add_argument("--chunk", type=int, default=50, help="pages per generated PDF")
    parser.add_argument("--seed", type=int, default=2024)
    parser.add_argument("--records", type=Path, help="write (or read) per-page records here")
    parser.add_argument("--from-records", action="store_true", help="skip reading")
    parser.add_argument("--out", type=Path, help="write the markdown report here")
    args = parser.parse_args()

    if args.from_records:
        records = json.loads(args.records.read_text())
    else:
        records = read_records(args)
        if args.records:
            args.records.write_text(json.dumps(records))
    command = "OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_accuracy.py " + " ".join(
        f"--{k.replace('_', '-')} {v}"
        for k, v in records["args"].items()
        if k in ("pages", "seed", "dpi", "blank", "extra", "off_list")
    )
    text = report(records, command)
    print(text)
    if args.out:
        args.out.write_text(text)


if __name__ == "__main__":
    main()
