"""Assemble per-box digit probabilities into one student ID with review flags.

The model gives, for each box of the ID grid, calibrated probabilities over 11 classes
(digits 0-9 and class 10 = blank). Boxes are treated as independent, so the probability
of a whole reading is the product over boxes. An ID of length ``L`` means: the first
``L`` boxes hold digits and every later box is blank. Its probability is therefore

    P(id) = prod_{i < L} p[i, id_i] * prod_{i >= L} p[i, blank]

The most probable IDs are found by beam search (exact for the length-only format: the
top-K strings of a length are extensions of the top-K prefixes). IDs that break the
format (``id_length``, ``id_pattern``, ``check_digit``) get probability 0; the reported
``confidence`` is the joint probability of the chosen ID, which is calibrated if the
per-box probabilities are.
"""

from __future__ import annotations

import itertools
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np

from .config import DEFAULT_CONFIDENCE_THRESHOLD
from .results import DigitResult

logger = logging.getLogger(__name__)

#: Index of the blank class in the model's output.
BLANK = 10
#: Number of model classes (digits 0-9 plus blank).
N_CLASSES = 11
#: First beam width when a pattern or check digit filters candidates after the search;
#: it grows eightfold up to :data:`MAX_BEAM` while fewer than ``top_k`` IDs pass.
CONSTRAINED_BEAM = 128
MAX_BEAM = 8192
#: Reason codes :func:`assemble` can emit, in the order they are reported.
REASONS = ("low_confidence", "ambiguous_digit", "inner_blank", "unexpected_length")

_LABELS = tuple(str(d) for d in range(10)) + ("",)


@dataclass(frozen=True)
class IDReading:
    """One page's ID as read from its boxes.

    Attributes
    ----------
    student_id : str or None
        Digits read, trailing blank boxes dropped; None if the boxes are most likely
        all blank (nothing readable) or no ID fits the format.
    confidence : float
        Probability that ``student_id`` is exactly right (for None: that all boxes
        are blank).
    digits : tuple of DigitResult
        One per box, consistent with ``student_id`` (``""`` for blank boxes).
    flagged : bool
        True when a human must check the page (``reasons`` is not empty).
    reasons : tuple of str
        Reason codes, a subset of :data:`REASONS` in that order.
    candidates : tuple of (str, float)
        The top-K IDs that fit the format with their probabilities, most probable first.
    """

    student_id: str | None
    confidence: float
    digits: tuple[DigitResult, ...]
    flagged: bool
    reasons: tuple[str, ...]
    candidates: tuple[tuple[str, float], ...]


def assemble(
    probs: np.ndarray,
    *,
    id_length: int | None = None,
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD,
    ambiguity_margin: float = 0.2,
    id_pattern: str | None = None,
    check_digit: Callable[[str], bool] | None = None,
    top_k: int = 5,
) -> IDReading:
    """Read one student ID from its boxes' class probabilities.

    Parameters
    ----------
    probs : ndarray, shape (n_cells, 11)
        Calibrated probabilities per box, left to right; column 10 is blank.
    id_length : int or None
        Exact number of digits of a valid ID; None accepts any length >= 1.
    confidence_threshold : float
        Below this ``confidence`` the page is flagged ``low_confidence``.
    ambiguity_margin : float
        A box whose two most probable classes are closer than this is
        ``ambiguous_digit``.
    id_pattern : str or None
        Regular expression a valid ID must match in full.
    check_digit : callable or None
        ``check_digit(id) -> bool``; IDs for which it is False are invalid.
    top_k : int
        Number of candidate IDs to keep.

    Returns
    -------
    IDReading
        The most probable valid ID, its probability, per-box detail and flags.

    Examples
    --------
    >>> p = np.full((3, 11), 0.0001)
    >>> p[0, 4] = p[1, 2] = p[2, 10] = 0.999
    >>> r = assemble(p)
    >>> r.student_id, round(r.confidence, 3), r.reasons
    ('42', 0.997, ())
    """
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[1] != N_CLASSES:
        raise ValueError(f"probs must have shape (n_cells, {N_CLASSES}), got {p.shape}")
    if not np.all(np.isfinite(p)) or np.any(p < 0):
        raise ValueError("probs must be finite and non-negative")
    if top_k < 1:
        raise ValueError(f"top_k must be >= 1, got {top_k}")
    n = p.shape[0]
    with np.errstate(divide="ignore"):
        logp = np.log(p)
    lengths = _allowed_lengths(n, id_length)
    candidates = _top_candidates(logp, lengths, _format_check(id_pattern, check_digit), top_k=top_k)
    blank_prob = float(np.exp(logp[:, BLANK].sum()))

    if candidates and candidates[0][1] > blank_prob:
        student_id, confidence = candidates[0]
    else:
        student_id, confidence = None, blank_prob

    top2 = np.sort(p, axis=1)[:, -2:]
    argmax = p.argmax(axis=1)
    written = np.flatnonzero(argmax != BLANK)
    read_length = int(written[-1]) + 1 if written.size else 0
    reasons = []
    if confidence < confidence_threshold:
        reasons.append("low_confidence")
    if np.any(top2[:, 1] - top2[:, 0] < ambiguity_margin):
        reasons.append("ambiguous_digit")
    if np.any(argmax[:read_length] == BLANK):
        reasons.append("inner_blank")
    if (
        student_id is None
        or read_length == 0
        or (id_length is not None and read_length != id_length)
    ):
        reasons.append("unexpected_length")
    if reasons:
        logger.debug("ID %r (p=%.3f) flagged: %s", student_id, confidence, reasons)
    return IDReading(
        student_id=student_id,
        confidence=confidence,
        digits=_digit_results(p, student_id),
        flagged=bool(reasons),
        reasons=tuple(reasons),
        candidates=tuple(candidates),
    )


def _allowed_lengths(n_cells: int, id_length: int | None) -> list[int]:
    """ID lengths that fit in ``n_cells`` boxes."""
    if id_length is None:
        return list(range(1, n_cells + 1))
    return [id_length] if 1 <= id_length <= n_cells else []


def _format_check(
    id_pattern: str | None, check_digit: Callable[[str], bool] | None
) -> Callable[[str], bool] | None:
    """One predicate for the optional pattern and check digit (None: no constraint)."""
    if id_pattern is None and check_digit is None:
        return None
    regex = re.compile(id_pattern) if id_pattern is not None else None

    def is_valid(student_id: str) -> bool:
        if regex is not None and regex.fullmatch(student_id) is None:
            return False
        return check_digit is None or bool(check_digit(student_id))

    return is_valid


def _top_candidates(
    logp: np.ndarray,
    lengths: list[int],
    is_valid: Callable[[str], bool] | None,
    *,
    top_k: int,
) -> list[tuple[str, float]]:
    """The ``top_k`` most probable possible IDs that pass ``is_valid``, with probabilities.

    Without a constraint the beam search is exact. With one, the beam widens until
    ``top_k`` IDs pass, the search is exhaustive, or :data:`MAX_BEAM` is reached.
    """
    if not lengths:
        return []
    width = top_k if is_valid is None else max(top_k, CONSTRAINED_BEAM)
    while True:
        passing = (
            (s, float(np.exp(lp)))
            for s, lp in _beam_search(logp, lengths, width=width)
            if lp > -np.inf and (is_valid is None or is_valid(s))
        )
        found = list(itertools.islice(passing, top_k))
        if len(found) == top_k or width >= min(MAX_BEAM, 10 ** max(lengths)):
            return found
        width *= 8


def _beam_search(
    logp: np.ndarray, lengths: list[int], *, width: int
) -> Iterator[tuple[str, float]]:
    """The most probable all-digit IDs of the allowed lengths, best first.

    Parameters
    ----------
    logp : ndarray, shape (n_cells, 11)
        Log-probabilities per box.
    lengths : list of int
        Allowed ID lengths (each <= n_cells).
    width : int
        Beam width; also the number of IDs kept per length.

    Yields
    ------
    (str, float)
        IDs and their log-probabilities (trailing boxes blank), most probable first.
    """
    # blank_tail[j]: log-probability that boxes j.. are all blank
    blank_tail = np.concatenate([np.cumsum(logp[::-1, BLANK])[::-1], [0.0]])
    codes = np.zeros((1, 0), dtype=np.int8)
    scores = np.zeros(1)
    done_codes: list[np.ndarray] = []
    done_scores: list[np.ndarray] = []
    for j in range(max(lengths)):
        ext = (scores[:, None] + logp[j, :BLANK][None, :]).ravel()
        keep = np.argsort(-ext, kind="stable")[:width]
        # ext is (beam, 10 digits) flattened: row = parent prefix, column = next digit
        codes = np.concatenate([codes[keep // 10], (keep % 10)[:, None].astype(np.int8)], axis=1)
        scores = ext[keep]
        if j + 1 in lengths:
            done_codes.append(codes)
            done_scores.append(scores + blank_tail[j + 1])
    all_scores = np.concatenate(done_scores)
    order = np.argsort(-all_scores, kind="stable")
    # digit codes -> ASCII rows -> one fixed-width string per row, without a Python loop
    text = np.concatenate(
        [
            (block + ord("0")).astype(np.uint8).view(f"S{block.shape[1]}").ravel().astype("U")
            for block in done_codes
        ]
    )
    yield from zip(text[order].tolist(), all_scores[order].tolist(), strict=True)


def _digit_results(p: np.ndarray, student_id: str | None) -> tuple[DigitResult, ...]:
    """Per-box results consistent with ``student_id`` (padded with blanks)."""
    chosen = [int(c) for c in (student_id or "")] + [BLANK] * (p.shape[0] - len(student_id or ""))
    top3 = np.argsort(-p, axis=1, kind="stable")[:, :3]
    return tuple(
        DigitResult(
            value=_LABELS[c],
            confidence=float(p[i, c]),
            alternatives=tuple((_LABELS[k], float(p[i, k])) for k in top3[i]),
        )
        for i, c in enumerate(chosen)
    )
