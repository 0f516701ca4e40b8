"""End-to-end: synthetic scanned exams (real MNIST handwriting) through the real model."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from idreader import Reader, ReaderConfig, read_ids
from idreader.classlist import Student
from idreader.synth import DigitBank, Distortion, make_page, write_pdf

IDS = ["31415926", "27182818", "01234567", "16180339", "55501234", "90817263"]


@pytest.fixture(scope="module")
def bank(mnist) -> DigitBank:
    images, labels = mnist
    return DigitBank(images, labels, rng=np.random.default_rng(7))


@pytest.fixture(scope="module")
def exam_pdf(tmp_path_factory, scanned_pages) -> Path:
    """Six mildly distorted scanned pages, one ID each, as a real PDF."""
    pages = scanned_pages(IDS, seed=11, bank_seed=7, skew=3.0, blur=0.6, noise=4.0)
    path = tmp_path_factory.mktemp("exam") / "exam.pdf"
    write_pdf(pages, path, dpi=200)
    return path


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(id_length=8)


def assert_read_or_flagged(results, expected, *, min_correct):
    """The project's first rule: a wrong ID is never unflagged."""
    read = [r.student_id for r in results]
    wrong = [r for r, sid in zip(results, expected, strict=True) if r.student_id != sid]
    assert not [r for r in wrong if not r.flagged], f"silent wrong IDs: {read} vs {expected}"
    assert len(expected) - len(wrong) >= min_correct, f"{read} vs {expected}"


def test_reads_every_id_of_a_clean_exam(reader, exam_pdf):
    result = reader.read(exam_pdf)
    assert [r.page for r in result.results] == [1, 2, 3, 4, 5, 6]
    assert_read_or_flagged(result.results, IDS, min_correct=5)
    assert all(r.source == str(exam_pdf) for r in result.results)
    for r in result.results:
        assert r.error is None
        assert r.rotation == 0
        assert len(r.digits) == 8
        # box is in PDF points: inside an A4 page (595 x 842 pt)
        x0, y0, x1, y1 = r.box
        assert 0 <= x0 < x1 <= 596 and 0 <= y0 < y1 <= 843
    # calibrated confidences of correct reads on clean pages are high on average
    assert np.mean([r.confidence for r in result.results]) > 0.8
    assert result.exit_code == 0


def test_bad_inputs_become_error_rows_in_order(reader, exam_pdf, tmp_path):
    garbage = tmp_path / "garbage.pdf"
    garbage.write_bytes(b"this is not a pdf at all")
    missing = tmp_path / "missing.pdf"
    result = reader.read([missing, exam_pdf, garbage])
    sources = [r.source for r in result.results]
    assert sources == [str(missing)] + [str(exam_pdf)] * 6 + [str(garbage)]
    first, last = result.results[0], result.results[-1]
    for row, name in ((first, "missing.pdf"), (last, "garbage.pdf")):
        assert row.error is not None and name in row.error
        assert row.reasons == ("read_error",) and row.flagged and row.student_id is None
    assert_read_or_flagged(result.results[1:-1], IDS, min_correct=5)
    assert result.exit_code == 1


def test_page_without_grid_is_flagged_not_raised(reader, tmp_path):
    page = np.full((2339, 1654), 255, np.uint8)
    cv2.putText(page, "Question 1: explain.", (150, 400), cv2.FONT_HERSHEY_SIMPLEX, 2, 0, 3)
    path = tmp_path / "text.png"
    cv2.imwrite(str(path), page)
    (row,) = reader.read(path).results
    assert row.reasons == ("no_id_grid",)
    assert row.flagged and row.box is None and row.student_id is None and row.error is None


def test_upside_down_page_is_turned_and_read(reader, bank, tmp_path):
    rng = np.random.default_rng(3)
    page = make_page("20241130", bank, distortion=Distortion(rotation=180), rng=rng)
    path = tmp_path / "flipped.png"
    cv2.imwrite(str(path), page.image)
    (row,) = reader.read(path).results
    assert row.rotation == 180
    assert row.student_id == "20241130"


def test_cells_of_many_pages_go_to_the_model_in_one_call(exam_pdf, monkeypatch):
    reader = Reader(ReaderConfig(id_length=8, batch_pages=32))
    calls: list[int] = []
    predict = reader.classifier.predict
    monkeypatch.setattr(
        reader.classifier, "predict", lambda cells: calls.append(len(cells)) or predict(cells)
    )
    reader.read(exam_pdf)
    # one call: the 6 pages' 8 boxes, and any box read in more than one way
    assert len(calls) == 1 and calls[0] >= 6 * 8


def test_pair_views_of_many_pages_go_to_the_pair_model_in_one_call(exam_pdf, monkeypatch):
    reader = Reader(ReaderConfig(id_length=8, batch_pages=32))
    calls: list[tuple[int, ...]] = []
    predict = reader.pairs.predict
    monkeypatch.setattr(
        reader.pairs, "predict", lambda views: calls.append(views.shape) or predict(views)
    )
    result = reader.read(exam_pdf)
    assert len(calls) == 1 and calls[0][1:] == (2, 28, 48)
    # both models' versions, so that a result can be reproduced
    versions = (reader.classifier.info.version, reader.pairs.info.version,
                reader.context.info.version)  # fmt: skip
    assert result.summary["model_version"] == "{}+pairs.{}+context.{}".format(*versions)


def test_two_workers_give_identical_results(reader, exam_pdf):
    one = reader.read(exam_pdf).to_dict()["results"]
    two = Reader(id_length=8, workers=2).read(exam_pdf).to_dict()["results"]
    assert two == one


def test_class_list_assigns_pages_and_lists_absent_students(reader, exam_pdf):
    students = [Student(sid, f"Student {i}") for i, sid in enumerate(IDS)]
    students.append(Student("99999999", "Absent Student"))
    result = reader.read(exam_pdf, classlist=students)
    assert [r.match.id for r in result.results] == IDS
    assert result.unmatched_students == (("99999999", "Absent Student"),)
    assert result.summary["unmatched_students"] == [{"id": "99999999", "name": "Absent Student"}]


def test_keep_images_gives_grid_crop_and_cells(exam_pdf):
    result = Reader(id_length=8, keep_images=True).read(exam_pdf)
    images = result.results[0].images
    assert images is not None
    assert images.grid.dtype == np.uint8 and images.grid.shape[0] == 96
    assert images.cells.shape == (8, 28, 28)
    # ink of the first digit is visible in its cleaned cell
    assert images.cells[0].max() > 0.5


def test_progress_reports_every_page(reader, exam_pdf):
    seen: list[tuple[int, int]] = []
    reader.read(exam_pdf, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (6, 6)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)


def test_read_ids_reuses_one_reader_per_config(exam_pdf):
    first = read_ids(exam_pdf, id_length=8)
    second = read_ids(exam_pdf, id_length=8)
    assert_read_or_flagged(first.results, IDS, min_correct=5)
    assert first.to_dict()["results"] == second.to_dict()["results"]
    from idreader.reader import _cached_reader

    assert _cached_reader.cache_info().hits >= 1


def _probs_for(digits: str, n_cells: int, *, p: float) -> np.ndarray:
    """Box probabilities that favour ``digits`` (then blanks) with probability ``p`` each."""
    probs = np.full((n_cells, 11), (1 - p) / 10)
    for i, c in enumerate(digits.ljust(n_cells, ":")):
        probs[i, ord(c) - ord("0")] = p
    return probs


def test_confident_match_settles_a_low_confidence_reading(reader):
    from idreader.results import PageResult

    uncertain = PageResult("a.pdf", 1, "1234", 0.6, True, ("low_confidence",))
    students = [Student("1234", "Ann"), Student("5678", "Bo")]
    (settled,), _ = reader._match([uncertain], [_probs_for("1234", 6, p=0.95)], students, None)
    assert settled.match.id == "1234" and settled.match.confidence > 0.99
    assert settled.reasons == () and not settled.flagged


def test_weak_match_keeps_the_page_flagged(reader):
    from idreader.results import PageResult

    uncertain = PageResult("a.pdf", 1, "1234", 0.3, True, ("low_confidence",))
    # two listed IDs one uncertain digit apart: the list cannot settle this page
    probs = _probs_for("1234", 6, p=0.95)
    probs[3, 4], probs[3, 5] = 0.5, 0.45
    students = [Student("1234", "Ann"), Student("1235", "Bo")]
    (kept,), _ = reader._match([uncertain], [probs], students, None)
    assert kept.flagged
    assert kept.reasons == ("low_confidence", "low_match_margin")


def test_with_options_shares_the_model_session(reader, exam_pdf):
    strict = reader.with_options(confidence_threshold=0.999)
    assert strict.classifier is reader.classifier
    assert strict.config.confidence_threshold == 0.999 and strict.config.id_length == 8
    assert reader.config.confidence_threshold != 0.999  # the original is untouched
    rows = strict.read(exam_pdf).results
    assert all("low_confidence" in r.reasons for r in rows if r.confidence < 0.999)


def _reject_all(student_id: str) -> bool:
    return False


def test_check_digit_reaches_the_assembly(reader, exam_pdf):
    rows = reader.with_options(check_digit=_reject_all).read(exam_pdf).results
    # no ID passes the check, so nothing is read and every page says why
    assert all(r.student_id is None and "unexpected_length" in r.reasons for r in rows)


def test_off_list_prior_reaches_the_matcher(reader, exam_pdf):
    students = [Student(sid) for sid in IDS]
    sure = reader.with_options(off_list_prior=0.001).read(exam_pdf, classlist=students)
    wary = reader.with_options(off_list_prior=0.5).read(exam_pdf, classlist=students)
    # a page the wary matcher leaves unmatched (off the list is likelier) counts as 0
    pairs = [tuple(r.match.confidence if r.match else 0.0 for r in both)
             for both in zip(sure.results, wary.results, strict=True)]  # fmt: skip
    assert all(a.match is not None for a in sure.results)
    assert all(a >= b for a, b in pairs) and any(a > b for a, b in pairs)
