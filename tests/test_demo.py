"""The shipped demo (examples/) read end to end with the shipped model, as the README runs it."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from idreader import Reader, ReaderConfig

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def demo():
    result = Reader(ReaderConfig()).read(
        EXAMPLES / "demo_exams.pdf", classlist=EXAMPLES / "demo_classlist.csv"
    )
    with open(EXAMPLES / "demo_expected.csv", newline="") as f:
        truth = {int(row["page"]): row["student_id"] or None for row in csv.DictReader(f)}
    return result.results, truth


def test_every_demo_page_has_its_eight_box_grid(demo):
    # regression: on a table page the row of joined boxes, ruled 3 px thick at the
    # working scale, was taken for boxes standing apart and extended over the
    # "Student number" label cell (9 boxes, "799503365")
    pages, _ = demo
    assert [p.page for p in pages] == list(range(1, 25))
    assert all(len(p.digits) == 8 for p in pages)


def test_the_demo_is_matched_right_or_flagged(demo):
    # measured: 23 of 24 pages matched to their writer, unflagged; page 9 has no ID
    # written and is flagged; page 17 (a 4 written over a 9, an 8 with its lower loop
    # closed up: both read 9, at 0.60 and 0.63, the written digit next at 0.35 and 0.36)
    # fits only its writer's ID, two digits off, and is matched to them at 0.993
    pages, truth = demo
    matched = {p.page: p.match.id if p.match else None for p in pages}
    right = [p.page for p in pages if not p.flagged and matched[p.page] == truth[p.page]]
    wrong = [p.page for p in pages if not p.flagged and matched[p.page] != truth[p.page]]
    assert wrong == []
    assert len(right) >= 23
    assert truth[9] is None and pages[8].flagged
    assert matched[17] == truth[17]
