"""Class-list matching speed: 2,000 pages x 2,000 students, against same-run baselines.

Simulates the classifier's output for pages written by listed students (8 boxes, a
few misread or uncertain boxes, some pages of students who are not on the list), then
times in the same run:

- ``likelihoods``: :func:`idreader.matching.log_likelihoods` alone (the gather);
- ``match``: :func:`idreader.classlist.match` end to end (likelihoods, posteriors,
  assignment with the off-list option, flags);
- ``lsa_random``: :func:`scipy.optimize.linear_sum_assignment` on a random dense
  matrix of the same shape (the solver's own cost, the baseline).

Target: ``match`` <= 2 s for 2,000 x 2,000. The ratio match / lsa_random is what
carries across machines.

Usage::

    OMP_NUM_THREADS=1 PYTHONPATH=. python benchmarks/bench_match.py [--pages 2000] [--students 2000]
"""

from __future__ import annotations

import argparse

import numpy as np
from scipy.optimize import linear_sum_assignment
from timing import best_of

from idreader.classlist import Student, match
from idreader.matching import log_likelihoods


def simulate(
    n_pages: int, n_students: int, *, n_cells: int, off_list: float, rng: np.random.Generator
) -> tuple[list[np.ndarray], list[Student], list[str | None]]:
    """Class list, page probabilities and each page's true listed ID (None = off list)."""
    ids = rng.choice(10**8, size=n_students, replace=False)
    students = [Student(f"{i:08d}", f"student {k}") for k, i in enumerate(ids)]
    writers = rng.permutation(n_students)[:n_pages]
    pages, truth = [], []
    for w in writers:
        sid = students[w].id
        is_off = rng.random() < off_list
        if is_off:  # someone else's ID, not on the list
            sid = f"{rng.integers(10**8):08d}"
        codes = [int(c) for c in sid] + [10] * (n_cells - len(sid))
        # peaked rows like a calibrated classifier: mostly sure, sometimes torn
        p = rng.dirichlet(np.full(11, 0.05), size=n_cells) * 0.1
        sure = np.where(rng.random(n_cells) < 0.03, rng.uniform(0.3, 0.7, n_cells), 0.9)
        p[np.arange(n_cells), codes] += sure
        pages.append(p / p.sum(axis=1, keepdims=True))
        truth.append(None if is_off else sid)
    return pages, students, truth


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--students", type=int, default=2000)
    parser.add_argument("--cells", type=int, default=10, help="boxes per page (IDs are 8)")
    parser.add_argument("--off-list", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    rng = np.random.default_rng(args.seed)
    pages, students, truth = simulate(
        args.pages, args.students, n_cells=args.cells, off_list=args.off_list, rng=rng
    )
    ids = [s.id for s in students]
    t_lik, _ = best_of(args.repeats, lambda: log_likelihoods(pages, ids))
    t_match, result = best_of(args.repeats, lambda: match(pages, students))
    random_cost = rng.random((args.pages, args.students))
    t_lsa, _ = best_of(args.repeats, lambda: linear_sum_assignment(random_cost))

    got = [m.id if m else None for m in result.matches]
    correct = sum(g == t for g, t in zip(got, truth, strict=True))
    flagged = [bool(r) for r in result.reasons]
    silent_wrong = sum(g != t and not f for g, t, f in zip(got, truth, flagged, strict=True))
    print(f"pages x students      {args.pages} x {args.students} ({args.cells} boxes)")
    print(f"likelihoods           {t_lik:.3f} s")
    print(f"match (end to end)    {t_match:.3f} s   target <= 2 s")
    print(f"lsa_random (baseline) {t_lsa:.3f} s")
    print(f"ratio match / lsa     {t_match / t_lsa:.2f}")
    print(f"correct {correct}/{len(got)}, flagged {sum(flagged)}, unflagged wrong {silent_wrong}")


if __name__ == "__main__":
    main()
