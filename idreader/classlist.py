"""Class lists: load them, and assign pages to listed students one-to-one.

Each page's box probabilities give the likelihood of every listed ID (boxes beyond the
ID must be blank). Pages are assigned with :func:`scipy.optimize.linear_sum_assignment`
on a matrix that also offers every page "not on the list", so a student missing from
the list is reported (``not_in_classlist``) instead of being forced onto someone else.
See :mod:`idreader.matching` for the numbers.
"""

from __future__ import annotations

import csv
import io
import logging
import os
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .assemble import BLANK
from .config import DEFAULT_CONFIDENCE_THRESHOLD, DEFAULT_OFF_LIST_PRIOR
from .errors import InputError
from .matching import assign, log_likelihoods, log_posteriors
from .results import Match

logger = logging.getLogger(__name__)

#: Accepted headers of the ID column (compared case-insensitively).
ID_COLUMNS = ("id", "student_id", "studentNumber")


@dataclass(frozen=True)
class Student:
    """One row of a class list; ``id`` is a digit string (leading zeros matter)."""

    id: str
    name: str = ""


@dataclass(frozen=True)
class Assignment:
    """The outcome of matching pages to a class list.

    Attributes
    ----------
    matches : tuple of (Match or None)
        One per page; None = not on the list, or a page without probabilities.
    reasons : tuple of tuple of str
        Extra reason codes per page: ``not_in_classlist``, ``low_match_margin``,
        ``duplicate_id``.
    unmatched : tuple of Student
        Listed students that no page was assigned to, in list order.
    """

    matches: tuple[Match | None, ...]
    reasons: tuple[tuple[str, ...], ...]
    unmatched: tuple[Student, ...]


def load_classlist(source: str | os.PathLike | io.TextIOBase) -> tuple[Student, ...]:
    """Read a class list CSV.

    The header row must have an ID column (``id``, ``student_id`` or
    ``studentNumber``, any case); ``name`` is optional. A UTF-8 BOM and whitespace
    around headers and values are tolerated.

    Parameters
    ----------
    source : path or text file object

    Returns
    -------
    tuple of Student
        In file order.

    Raises
    ------
    InputError
        Unreadable or empty file, no ID column, or an empty, non-digit or duplicate
        ID; the message names the file and row (the header is row 1).

    Examples
    --------
    >>> load_classlist(io.StringIO("id,name\\n007,Bond\\n"))
    (Student(id='007', name='Bond'),)
    """
    if isinstance(source, (str, os.PathLike)):
        label = Path(source).name
        try:
            with open(source, encoding="utf-8-sig", newline="") as handle:
                return _parse(handle, label)
        except (OSError, UnicodeDecodeError) as exc:
            raise InputError(f"{label}: cannot read class list: {exc}") from exc
    label = Path(str(getattr(source, "name", "classlist"))).name
    return _parse(source, label)


def _parse(lines: Iterable[str], label: str) -> tuple[Student, ...]:
    reader = csv.reader(lines)
    header = next(reader, None)
    if not header:
        raise InputError(f"{label}: empty class list (no header row)")
    names = [h.strip().lstrip("\ufeff").strip().lower() for h in header]
    id_col = next((names.index(c.lower()) for c in ID_COLUMNS if c.lower() in names), None)
    if id_col is None:
        raise InputError(
            f"{label}: row 1: no ID column (expected one of {', '.join(ID_COLUMNS)}); "
            f"found: {', '.join(h.strip() for h in header)}"
        )
    name_col = names.index("name") if "name" in names else None
    students: list[Student] = []
    first_row: dict[str, int] = {}
    for row in reader:
        if not any(cell.strip() for cell in row):
            continue
        where = f"{label}: row {reader.line_num}"
        sid = row[id_col].strip() if id_col < len(row) else ""
        if not sid:
            raise InputError(f"{where}: missing id")
        if not (sid.isascii() and sid.isdigit()):
            raise InputError(f"{where}: id {sid!r} is not all digits")
        if sid in first_row:
            raise InputError(f"{where}: duplicate id {sid!r} (first on row {first_row[sid]})")
        first_row[sid] = reader.line_num
        name = row[name_col].strip() if name_col is not None and name_col < len(row) else ""
        students.append(Student(sid, name))
    if not students:
        raise InputError(f"{label}: class list has no students")
    logger.debug("%s: %d students", label, len(students))
    return tuple(students)


def match(
    page_probs: Sequence[np.ndarray | None],
    students: Sequence[Student],
    *,
    confirmed: Mapping[int, str] | None = None,
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    off_list_prior: float = DEFAULT_OFF_LIST_PRIOR,
) -> Assignment:
    """Assign pages to listed students one-to-one, or to "not on the list".

    Parameters
    ----------
    page_probs : sequence of (ndarray or None)
        Page i's box probabilities, shape (n_cells_i, 11); None for a page without a
        grid (it gets no match and no extra reason).
    students : sequence of Student
        The class list (unique IDs).
    confirmed : mapping of int to str, optional
        ``{page index: student id}`` already confirmed by a person: honoured as
        certain, and those pages and students are left out of the assignment.
    confidence_threshold : float
        A match whose posterior is below this is flagged ``low_match_margin``.
    off_list_prior : float
        Prior probability that a page's writer is not on the list, in (0, 1).

    Returns
    -------
    Assignment
        ``Match.confidence`` is the posterior of the student among all listed
        students and "not on the list"; ``margin`` is its lead over the next best of
        those options, and ``runner_up`` names that student (None when the next best
        is "not on the list").

    Examples
    --------
    >>> p = np.full((2, 11), 0.001)
    >>> p[0, 4] = p[1, 10] = 0.99
    >>> a = match([p, None], [Student("4", "Ann"), Student("5", "Bo")])
    >>> a.matches[0].id, a.matches[1], [s.id for s in a.unmatched]
    ('4', None, ['5'])
    """
    if not 0.0 < off_list_prior < 1.0:
        raise ValueError(f"off_list_prior must be in (0, 1), got {off_list_prior}")
    confirmed = dict(confirmed or {})
    by_id = {s.id: s for s in students}
    _check_confirmed(confirmed, by_id, len(page_probs))
    pages = [i for i, p in enumerate(page_probs) if p is not None and i not in confirmed]
    ids = [s.id for s in students]
    loglik = log_likelihoods([page_probs[i] for i in pages], ids)
    listed, off_list = log_posteriors(loglik, off_list_prior=off_list_prior)
    taken = set(confirmed.values())
    free = np.array([j for j, sid in enumerate(ids) if sid not in taken], dtype=np.int64)
    chosen = assign(listed[:, free], off_list)

    matches: list[Match | None] = [None] * len(page_probs)
    reasons: list[tuple[str, ...]] = [()] * len(page_probs)
    for i, sid in confirmed.items():
        matches[i] = Match(sid, by_id[sid].name, 1.0, margin=1.0)
    for row, page in enumerate(pages):
        if chosen[row] < 0:
            reasons[page] = ("not_in_classlist",)
            continue
        j = int(free[chosen[row]])
        matches[page] = _match_for(listed[row], off_list[row], j, students)
        if matches[page].confidence < confidence_threshold:
            reasons[page] = ("low_match_margin",)
    for page in _duplicate_pages(page_probs, confirmed):
        reasons[page] += ("duplicate_id",)

    used = {m.id for m in matches if m is not None}
    return Assignment(
        matches=tuple(matches),
        reasons=tuple(reasons),
        unmatched=tuple(s for s in students if s.id not in used),
    )


def _check_confirmed(confirmed: dict[int, str], by_id: dict[str, Student], n_pages: int) -> None:
    for page, sid in confirmed.items():
        if not 0 <= page < n_pages:
            raise InputError(f"confirmed: page index {page} is outside 0..{n_pages - 1}")
        if sid not in by_id:
            raise InputError(f"confirmed: page {page}: id {sid!r} is not on the class list")
    twice = [sid for sid, count in Counter(confirmed.values()).items() if count > 1]
    if twice:
        raise InputError(f"confirmed: id {twice[0]!r} is confirmed for more than one page")


def _match_for(listed: np.ndarray, off_list: float, j: int, students: Sequence[Student]) -> Match:
    """The Match of student ``j`` given one page's log-posteriors."""
    others = listed.copy()
    others[j] = -np.inf
    k = int(others.argmax())
    off_is_next = off_list >= others[k]
    runner = float(np.exp(off_list if off_is_next else others[k]))
    confidence = float(np.exp(listed[j]))
    return Match(
        id=students[j].id,
        name=students[j].name,
        confidence=confidence,
        margin=confidence - runner,
        runner_up=None if off_is_next else students[k].id,
    )


def _duplicate_pages(
    page_probs: Sequence[np.ndarray | None], confirmed: Mapping[int, str]
) -> list[int]:
    """Unconfirmed pages whose best reading another page also has (or is confirmed as)."""
    readings: dict[int, str] = dict(confirmed)
    for i, p in enumerate(page_probs):
        if p is None or i in confirmed:
            continue
        best = np.asarray(p).argmax(axis=1)
        written = np.flatnonzero(best != BLANK)
        if written.size and np.all(best[: written[-1] + 1] != BLANK):
            readings[i] = "".join(map(str, best[: written[-1] + 1]))
    counts = Counter(readings.values())
    return [i for i, r in sorted(readings.items()) if counts[r] > 1 and i not in confirmed]
