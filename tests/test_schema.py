"""docs/result.schema.json describes real output exactly: valid for it, strict against drift."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import jsonschema
import numpy as np
import pytest

from idreader import Reader, ReaderConfig
from idreader.classlist import Student
from idreader.results import DigitResult, Match, PageResult, ScanResult
from idreader.synth import DigitBank, Distortion, Layout, make_page, write_pdf

SCHEMA = json.loads((Path(__file__).parent.parent / "docs" / "result.schema.json").read_text())
IDS = ["24681357", "10293847"]


@pytest.fixture(scope="module")
def validator() -> jsonschema.Draft202012Validator:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    return jsonschema.Draft202012Validator(SCHEMA)


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, mnist) -> list[Path]:
    """Two written covers, a page without any grid, and a file that is not a PDF."""
    images, labels = mnist
    rng = np.random.default_rng(5)
    bank = DigitBank(images, labels, rng=rng)
    pages = [
        make_page(sid, bank, layout=Layout(kind="table"), distortion=Distortion(), rng=rng).image
        for sid in IDS
    ]
    blank = np.full_like(pages[0], 255)
    folder = tmp_path_factory.mktemp("schema")
    write_pdf([*pages, blank], folder / "exam.pdf", dpi=200)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really")
    return [folder / "exam.pdf", folder / "broken.pdf"]


@pytest.fixture(scope="module")
def reader() -> Reader:
    return Reader(ReaderConfig(id_length=8))


@pytest.fixture(scope="module")
def with_classlist(reader, inputs) -> dict:
    students = [Student(IDS[0], "Ada"), Student(IDS[1], "Brook"), Student("55555555", "Cy")]
    return reader.read(inputs, classlist=students).to_dict()


def test_real_output_is_valid(validator, reader, inputs, with_classlist) -> None:
    plain = reader.read(inputs).to_dict()
    for out in (plain, with_classlist):
        validator.validate(out)
    reasons = [r["reasons"] for r in plain["results"]]
    # the fixture covers a read page, a page without a grid and an unreadable file
    assert [r["box"] is not None for r in plain["results"]] == [True, True, False, False]
    assert reasons[2] == ["no_id_grid"] and reasons[3] == ["read_error"]
    assert "matched" not in plain["summary"] and with_classlist["summary"]["matched"] == 2
    assert with_classlist["summary"]["unmatched_students"] == [{"id": "55555555", "name": "Cy"}]


def test_schema_names_every_field_the_code_writes() -> None:
    """Regression guard: a field added to to_dict() must be added to the schema too."""
    page = PageResult(
        "a.pdf",
        1,
        "12",
        0.9,
        False,
        (),
        (DigitResult("1", 0.9, (("1", 0.9), ("7", 0.1))),),
        (1.0, 2.0, 3.0, 4.0),
        0,
        Match("12", "Ada", 0.9),
    )
    scan = ScanResult((page,), unmatched_students=(("34", "Bo"),)).to_dict()
    defs = SCHEMA["$defs"]
    assert set(defs["PageResult"]["properties"]) == set(scan["results"][0])
    assert set(defs["PageResult"]["required"]) == set(scan["results"][0])
    assert set(defs["Digit"]["properties"]) == set(scan["results"][0]["digits"][0])
    assert set(defs["Match"]["properties"]) == set(scan["results"][0]["match"])
    assert set(defs["Summary"]["properties"]) == set(scan["summary"])
    assert set(SCHEMA["properties"]) == set(scan)


def _set(path: tuple, value: object):
    def change(out: dict) -> None:
        target = out
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return change


@pytest.mark.parametrize(
    ("change", "why"),
    [
        (_set(("results", 0, "extra"), 1), "unknown page field"),
        (_set(("summary", "extra"), 1), "unknown summary field"),
        (_set(("results", 0, "confidence"), 1.5), "probability above 1"),
        (_set(("results", 0, "student_id"), "12a4"), "non-digit ID"),
        (_set(("results", 0, "digits", 0, "value"), "10"), "two-character digit"),
        (_set(("results", 0, "box"), [1, 2, 3]), "box of three numbers"),
        (_set(("results", 0, "rotation"), 45), "rotation not a quarter turn"),
        (_set(("results", 0, "page"), 0), "page numbers are 1-based"),
        (_set(("results", 3, "flagged"), False), "unreadable page not flagged"),
        (_set(("results", 2, "flagged"), False), "page with reasons not flagged"),
        (_set(("results", 0, "match"), {"id": "1", "name": "A"}), "match without confidence"),
        (lambda out: out["summary"].pop("model_version"), "summary without model version"),
        (lambda out: out["summary"].pop("matched"), "unmatched_students without matched"),
        (lambda out: out["results"][0].pop("error"), "page without its error field"),
    ],
)
def test_schema_rejects_broken_output(validator, with_classlist, change, why) -> None:
    broken = copy.deepcopy(with_classlist)
    change(broken)
    with pytest.raises(jsonschema.ValidationError):
        validator.validate(broken)
