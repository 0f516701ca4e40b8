"""Result objects export the JSON and CSV contracts of DESIGN.md."""

from __future__ import annotations

import csv
import io
import json

from idreader.results import CSV_COLUMNS, DigitResult, Match, PageResult, ScanResult

CONTRACT_KEYS = {
    "source", "page", "student_id", "confidence", "flagged", "reasons", "digits", "box",
    "rotation", "match", "error",
}  # fmt: skip


def _scan() -> ScanResult:
    read = PageResult(
        "exam.pdf",
        1,
        "0123",
        0.987654321,
        False,
        (),
        (DigitResult("0", 0.99, (("0", 0.99), ("6", 0.01))), DigitResult("", 0.9)),
        (10.0, 20.0, 110.0, 40.0),
        180,
        Match("0123", "Ann Lee", 0.97, 0.95, "0128"),
    )
    failed = PageResult.failed("exam.pdf", 2, "exam.pdf: page 2: cannot render page")
    return ScanResult((read, failed), unmatched_students=(("999", "Bo"),), seconds=1.5)


def test_json_has_the_contract_fields_in_order_of_pages():
    data = json.loads(_scan().to_json())
    assert [r["page"] for r in data["results"]] == [1, 2]
    assert all(set(r) == CONTRACT_KEYS for r in data["results"])
    first = data["results"][0]
    assert first["student_id"] == "0123" and first["rotation"] == 180
    assert first["confidence"] == 0.987654
    assert first["digits"][1] == {"value": "", "confidence": 0.9, "alternatives": []}
    assert first["match"] == {"id": "0123", "name": "Ann Lee", "confidence": 0.97}
    assert first["box"] == [10.0, 20.0, 110.0, 40.0]


def test_failed_page_is_flagged_with_read_error():
    row = _scan().to_dict()["results"][1]
    assert row["flagged"] and row["reasons"] == ["read_error"]
    assert row["student_id"] is None and row["box"] is None and "page 2" in row["error"]


def test_summary_counts_and_exit_code():
    scan = _scan()
    assert scan.summary["pages"] == 2 and scan.summary["read"] == 1
    assert scan.summary["flagged"] == 1 and scan.summary["errors"] == 1
    assert scan.summary["unmatched_students"] == [{"id": "999", "name": "Bo"}]
    assert scan.exit_code == 1
    assert ScanResult(scan.results[:1]).exit_code == 0


def test_csv_columns_and_values():
    rows = list(csv.DictReader(io.StringIO(_scan().to_csv())))
    assert tuple(rows[0]) == CSV_COLUMNS
    assert rows[0]["student_id"] == "0123"  # leading zero kept
    assert rows[0]["match_id"] == "0123" and rows[0]["match_name"] == "Ann Lee"
    assert rows[0]["flagged"] == "false" and rows[1]["reasons"] == "read_error"
    assert rows[1]["error"].startswith("exam.pdf: page 2")
