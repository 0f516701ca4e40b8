"""Tests of idreader.assemble: beam search against brute force, each reason code."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from idreader.assemble import BLANK, REASONS, assemble


def reading(text: str, conf: float = 0.99, n_cells: int | None = None) -> np.ndarray:
    """Box probabilities that read ``text`` (" " = blank) with ``conf`` per box."""
    n_cells = n_cells or len(text)
    p = np.full((n_cells, 11), (1.0 - conf) / 10)
    for i, ch in enumerate(text.ljust(n_cells)):
        p[i, BLANK if ch == " " else int(ch)] = conf
    return p


def brute_force(p: np.ndarray, lengths: list[int], valid=lambda s: True) -> list[tuple[str, float]]:
    """Every valid ID with its probability, best first, by enumeration."""
    out = []
    for length in lengths:
        for digits in itertools.product(range(10), repeat=length):
            s = "".join(map(str, digits))
            if valid(s):
                prob = np.prod([p[i, d] for i, d in enumerate(digits)]) * np.prod(p[length:, BLANK])
                out.append((s, float(prob)))
    return sorted(out, key=lambda c: -c[1])


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("n_cells", [3, 4])
@pytest.mark.parametrize("id_length", [None, 2, "n"])
def test_beam_search_matches_brute_force(seed: int, n_cells: int, id_length) -> None:
    rng = np.random.default_rng(seed)
    # peaked rows, like a real classifier, with the blank class in play
    p = rng.dirichlet(np.full(11, 0.3), size=n_cells)
    length = n_cells if id_length == "n" else id_length
    lengths = list(range(1, n_cells + 1)) if length is None else [length]
    expected = brute_force(p, lengths)[:5]
    r = assemble(p, id_length=length, top_k=5)
    assert [s for s, _ in r.candidates] == [s for s, _ in expected]
    np.testing.assert_allclose([q for _, q in r.candidates], [q for _, q in expected], rtol=1e-9)
    blank = float(np.prod(p[:, BLANK]))
    if expected[0][1] > blank:
        assert (r.student_id, r.confidence) == (expected[0][0], pytest.approx(expected[0][1]))
    else:
        assert (r.student_id, r.confidence) == (None, pytest.approx(blank))


def luhn_mod10(s: str) -> bool:
    """Toy check digit: digit sum divisible by 10."""
    return sum(map(int, s)) % 10 == 0


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize(
    ("pattern", "check"), [(r"[0-4]\d\d", None), (None, luhn_mod10), (r"9\d*", luhn_mod10)]
)
def test_format_filter_matches_brute_force(seed: int, pattern, check) -> None:
    import re

    rng = np.random.default_rng(100 + seed)
    p = rng.dirichlet(np.full(11, 0.3), size=3)
    p[:, BLANK] *= 0.1  # keep blanks rare so the three-digit IDs carry real mass
    p /= p.sum(axis=1, keepdims=True)

    def valid(s: str) -> bool:
        return (pattern is None or re.fullmatch(pattern, s) is not None) and (
            check is None or check(s)
        )

    expected = brute_force(p, [3], valid)[:5]
    r = assemble(p, id_length=3, id_pattern=pattern, check_digit=check, top_k=5)
    assert [s for s, _ in r.candidates] == [s for s, _ in expected]
    assert all(valid(s) for s, _ in r.candidates)


def test_clean_read_has_no_reasons_and_joint_confidence() -> None:
    p = reading("1234567 ", conf=0.999)
    r = assemble(p, id_length=7)
    assert r.student_id == "1234567"
    assert r.confidence == pytest.approx(0.999**8)
    assert (r.flagged, r.reasons) == (False, ())
    assert [d.value for d in r.digits] == list("1234567") + [""]
    assert r.candidates[0] == ("1234567", pytest.approx(0.999**8))


def test_leading_zeros_kept_and_trailing_blanks_dropped() -> None:
    r = assemble(reading("007  ", conf=0.999))
    assert r.student_id == "007"
    assert not r.flagged


def test_low_confidence_alone() -> None:
    p = reading("4321", conf=0.99)
    p[2] = (1 - 0.8) / 10
    p[2, 2] = 0.8  # top two 0.8 vs 0.02: clear, but the ID is only ~78 % likely
    r = assemble(p, id_length=4)
    assert r.student_id == "4321"
    assert r.confidence == pytest.approx(0.99**3 * 0.8)
    assert r.reasons == ("low_confidence",)
    assert assemble(p, id_length=4, confidence_threshold=0.7).reasons == ()


def test_ambiguous_digit() -> None:
    p = reading("4321", conf=0.999)
    p[1] = 0.0
    p[1, 3], p[1, 8] = 0.55, 0.45
    r = assemble(p, id_length=4)
    assert r.student_id == "4321"
    assert r.reasons == ("low_confidence", "ambiguous_digit")
    assert r.digits[1].alternatives[:2] == (("3", 0.55), ("8", 0.45))
    assert [s for s, _ in r.candidates[:2]] == ["4321", "4821"]


def test_ambiguous_trailing_box_is_flagged() -> None:
    # Is the ID 4 or 5 digits long? The last box decides, so it must be looked at.
    p = reading("4321 ", conf=0.999)
    p[4] = 0.0
    p[4, BLANK], p[4, 7] = 0.5, 0.5
    assert "ambiguous_digit" in assemble(p).reasons


def test_inner_blank() -> None:
    r = assemble(reading("12 45", conf=0.99))
    assert r.reasons == ("low_confidence", "inner_blank")
    # the reported ID is a valid ID (no hole) whose low probability says so
    assert r.student_id is not None and len(r.student_id) == 5
    assert r.confidence < 0.01


@pytest.mark.parametrize(("text", "id_length"), [("1234567 ", 8), ("123456789", 8)])
def test_unexpected_length(text: str, id_length: int) -> None:
    r = assemble(reading(text, n_cells=max(len(text), 9)), id_length=id_length)
    assert "unexpected_length" in r.reasons
    assert r.flagged


def test_all_blank_is_nothing_readable() -> None:
    p = reading("      ", conf=0.999)
    r = assemble(p)
    assert r.student_id is None
    assert r.confidence == pytest.approx(0.999**6)
    assert r.reasons == ("unexpected_length",)
    assert all(d.value == "" for d in r.digits)


@pytest.mark.parametrize(
    "options",
    [
        {"id_length": 9},  # longer than the grid
        {"id_pattern": r"9\d*"},  # nothing can start with 9
    ],
)
def test_no_candidate_fits_format(options: dict) -> None:
    p = reading("1234", conf=1.0)
    r = assemble(p, **options)
    assert r.student_id is None
    assert r.candidates == ()
    assert "unexpected_length" in r.reasons


def test_digits_alternatives_are_top3_sorted() -> None:
    p = reading("5 ", conf=0.7)
    p[0, 6], p[0, 1] = 0.2, 0.05
    p /= p.sum(axis=1, keepdims=True)
    d = assemble(p).digits[0]
    assert [v for v, _ in d.alternatives] == ["5", "6", "1"]
    assert d.confidence == pytest.approx(p[0, 5])


def test_input_not_mutated_and_shape_checked() -> None:
    p = reading("12", conf=0.9)
    before = p.copy()
    assemble(p)
    np.testing.assert_array_equal(p, before)
    with pytest.raises(ValueError, match="shape"):
        assemble(p[:, :10])
    p[0, 3] = np.nan
    with pytest.raises(ValueError, match="finite"):
        assemble(p)


def test_reasons_are_known_codes() -> None:
    rng = np.random.default_rng(7)
    for _ in range(20):
        r = assemble(rng.dirichlet(np.ones(11), size=6), id_length=5)
        assert set(r.reasons) <= set(REASONS)
        assert r.flagged == bool(r.reasons)
