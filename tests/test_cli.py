"""`idreader` end to end: a real multi-page exam PDF (MNIST handwriting) through main()."""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from idreader import Reader, ReaderConfig, __version__
from idreader.cli import format_table, main
from idreader.results import CSV_COLUMNS, PageResult, ScanResult
from idreader.synth import write_pdf

IDS = ["31415926", "27182818", "01234567", "90817263"]
ROOT = Path(__file__).parent.parent
SUMMARY = re.compile(r"idreader: (\d+) pages, (\d+) read, (\d+) flagged, (\d+) errors in [\d.]+ s")


@pytest.fixture(scope="module")
def exam_pdf(tmp_path_factory: pytest.TempPathFactory, scanned_pages) -> Path:
    """Four mildly distorted scanned covers, one ID each, as a real PDF."""
    pages = scanned_pages(IDS, seed=5)
    path = tmp_path_factory.mktemp("exam") / "exam.pdf"
    write_pdf(pages, path, dpi=200)
    return path


@pytest.fixture(scope="module")
def library(exam_pdf: Path) -> ScanResult:
    """What the library itself reads from the exam with default options."""
    return Reader().read(exam_pdf)


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        assert tuple(reader.fieldnames or ()) == CSV_COLUMNS
        return list(reader)


def _summary(stderr: str) -> tuple[int, int, int, int]:
    found = SUMMARY.search(stderr)
    assert found, f"no summary line in stderr: {stderr!r}"
    return tuple(int(g) for g in found.groups())  # type: ignore[return-value]


def test_clean_pages_are_read_right_or_flagged(library: ScanResult) -> None:
    """The project's first rule holds on what the CLI prints: no silent wrong ID."""
    wrong = [r for r, sid in zip(library.results, IDS, strict=True) if r.student_id != sid]
    assert [r for r in wrong if not r.flagged] == []
    assert len(wrong) <= 1, [r.student_id for r in library.results]


def test_scan_writes_csv_one_row_per_page_in_order(exam_pdf, library, tmp_path, capsys) -> None:
    out = tmp_path / "ids.csv"
    assert main(["scan", str(exam_pdf), "--out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == library.to_csv()
    rows = _rows(out)
    assert [(r["source"], r["page"]) for r in rows] == [
        (str(exam_pdf), str(i)) for i in (1, 2, 3, 4)
    ]
    assert [r["student_id"] for r in rows] == [r.student_id for r in library.results]
    for r in rows:
        assert 0.0 <= float(r["confidence"]) <= 1.0
        assert r["flagged"] in ("true", "false") and r["error"] == ""
        assert (r["flagged"] == "true") == (r["reasons"] != "")
    captured = capsys.readouterr()
    assert captured.out == ""  # results went to the file, not the terminal
    assert _summary(captured.err) == (4, 4, sum(r["flagged"] == "true" for r in rows), 0)


def test_flags_map_onto_reader_config(exam_pdf, tmp_path) -> None:
    out = tmp_path / "ids.json"
    argv = ["scan", str(exam_pdf), "--id-length", "8", "--threshold", "0.999", "--dpi", "150"]
    assert main([*argv, "--out", str(out)]) == 0
    direct = Reader(ReaderConfig(id_length=8, confidence_threshold=0.999, dpi=150)).read(exam_pdf)
    assert json.loads(out.read_text())["results"] == direct.to_dict()["results"]
    # the strict threshold flags every page whose confidence is below it
    assert all(r.flagged for r in direct.results if r.confidence < 0.999)


def test_scan_json_is_identical_with_two_workers(exam_pdf, library, tmp_path) -> None:
    one, two = tmp_path / "w1.json", tmp_path / "w2.json"
    assert main(["scan", str(exam_pdf), "--workers", "1", "--out", str(one)]) == 0
    assert main(["scan", str(exam_pdf), "--workers", "2", "--out", str(two)]) == 0
    a, b = json.loads(one.read_text()), json.loads(two.read_text())
    assert a["results"] == b["results"] == library.to_dict()["results"]
    assert a["summary"].pop("seconds") >= 0 and b["summary"].pop("seconds") >= 0
    assert a["summary"] == b["summary"]
    first = a["results"][0]
    assert set(first) == {
        "source",
        "page",
        "student_id",
        "confidence",
        "flagged",
        "reasons",
        "digits",
        "box",
        "rotation",
        "match",
        "error",
    }
    assert len(first["digits"]) == 8
    assert first["match"] is None and first["rotation"] == 0 and len(first["box"]) == 4


def test_scan_without_out_prints_table_to_stdout(exam_pdf, library, capsys) -> None:
    assert main(["scan", str(exam_pdf)]) == 0
    captured = capsys.readouterr()
    lines = captured.out.splitlines()
    assert lines[0].split() == [
        "source",
        "page",
        "student_id",
        "confidence",
        "flagged",
        "match",
        "reasons",
    ]
    assert len(lines) == 5
    assert [line.split()[2] for line in lines[1:]] == [r.student_id for r in library.results]
    assert _summary(captured.err)[:2] == (4, 4)
    assert "page/s" not in captured.err  # no progress bar when stderr is not a terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_on_a_terminal_stderr(exam_pdf, tmp_path, monkeypatch) -> None:
    err = _Terminal()
    monkeypatch.setattr(sys, "stderr", err)
    assert main(["scan", str(exam_pdf), "--out", str(tmp_path / "x.csv")]) == 0
    assert re.search(r"100%\|.*\| 4/4 ", err.getvalue())


def test_report_and_debug_dir(exam_pdf, library, tmp_path) -> None:
    report, debug = tmp_path / "review.html", tmp_path / "debug"
    code = main(
        [
            "scan",
            str(exam_pdf),
            "--out",
            str(tmp_path / "ids.csv"),
            "--report",
            str(report),
            "--debug-dir",
            str(debug),
        ]
    )
    assert code == 0
    html = report.read_text(encoding="utf-8")
    assert html.count('<article class="page') == 4
    assert html.count('src="data:image/png;base64,') == 4 * (1 + 8)  # grid crop + 8 cells
    assert all(f'<span class="id">{r.student_id}</span>' in html for r in library.results)
    pngs = sorted(p.name for p in debug.glob("*.png"))
    assert [n for n in pngs if n.endswith("_overlay.png")] == [
        f"exam_p{i:04d}_overlay.png" for i in (1, 2, 3, 4)
    ]


def test_missing_input_is_an_error_row_and_exit_1(exam_pdf, library, tmp_path, capsys) -> None:
    missing = tmp_path / "missing.pdf"
    out = tmp_path / "ids.csv"
    assert main(["scan", str(missing), str(exam_pdf), "--out", str(out)]) == 1
    rows = _rows(out)
    assert len(rows) == 5
    assert rows[0]["source"] == str(missing) and "missing.pdf" in rows[0]["error"]
    assert rows[0]["reasons"] == "read_error" and rows[0]["flagged"] == "true"
    assert rows[0]["student_id"] == ""
    # the other pages are still read and written
    assert [r["student_id"] for r in rows[1:]] == [r.student_id for r in library.results]
    assert _summary(capsys.readouterr().err)[3] == 1


def test_unwritable_out_file_is_a_clean_error_exit_1(exam_pdf, tmp_path, capsys) -> None:
    out = tmp_path / "ids.csv"
    out.mkdir()  # a directory where the file should go
    assert main(["scan", str(exam_pdf), "--out", str(out)]) == 1
    err = capsys.readouterr().err
    assert "idreader: error:" in err and str(out) in err and "Traceback" not in err


def test_empty_directory_is_exit_1_not_success(tmp_path, capsys) -> None:
    (tmp_path / "scans").mkdir()
    assert main(["scan", str(tmp_path / "scans")]) == 1
    err = capsys.readouterr().err
    assert _summary(err) == (0, 0, 0, 0) and "the inputs contain no pages" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["scan"], "required: INPUT"),
        (["scan", "{pdf}", "--out", "{tmp}/ids.txt"], "--out must end in .csv or .json"),
        (["scan", "{pdf}", "--out", "{tmp}/no/such/dir/ids.csv"], "does not exist"),
        (["scan", "{pdf}", "--dpi", "5"], "dpi must be between 72 and 1200"),
        (["scan", "{pdf}", "--workers", "two"], "invalid int value"),
        (["scan", "{pdf}", "--threshold", "1.5"], "confidence_threshold must be in [0, 1]"),
        (["scan", "{pdf}", "--no-such-flag"], "unrecognized arguments"),
        (["template", "--digits", "0", "--out", "{tmp}/box.pdf"], "digits must be 1..18"),
        (["frobnicate"], "invalid choice"),
        ([], "required: COMMAND"),
    ],
)
def test_usage_errors_exit_2(args, message, exam_pdf, tmp_path, capsys) -> None:
    argv = [a.format(pdf=exam_pdf, tmp=tmp_path) for a in args]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert message in captured.err and captured.out == ""
    assert list(tmp_path.iterdir()) == []  # nothing written


def test_unreadable_classlist_stops_before_scanning_with_exit_2(exam_pdf, tmp_path, capsys):
    classlist = tmp_path / "students.csv"
    classlist.write_text("name,email\nAda,ada@example.org\n", encoding="utf-8")
    out = tmp_path / "ids.csv"
    assert main(["scan", str(exam_pdf), "--classlist", str(classlist), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "class list not used" in err and "students.csv: row 1: no ID column" in err
    assert not out.exists() and SUMMARY.search(err) is None


def test_classlist_matches_pages_and_reports_students_without_a_page(exam_pdf, tmp_path, capsys):
    from idreader.classlist import load_classlist

    classlist = tmp_path / "students.csv"
    names = ["Ada", "Alan", "Grace", "Edsger"]
    lines = [
        "id,name",
        *(f"{sid},{n}" for sid, n in zip(IDS, names, strict=True)),
        "55501234,Absent",
    ]
    classlist.write_text("\n".join(lines) + "\n", encoding="utf-8")
    out = tmp_path / "ids.csv"
    assert main(["scan", str(exam_pdf), "--classlist", str(classlist), "--out", str(out)]) == 0
    rows = _rows(out)
    direct = Reader().read(exam_pdf, classlist=load_classlist(classlist))
    assert out.read_text(encoding="utf-8") == direct.to_csv()
    # the list resolves what the handwriting alone may leave open: every page its student
    assert [(r["match_id"], r["match_name"]) for r in rows] == list(zip(IDS, names, strict=True))
    assert "4 matched, 1 students without a page" in capsys.readouterr().err


def test_python_m_idreader_runs_in_a_subprocess(exam_pdf, library, tmp_path) -> None:
    out = tmp_path / "ids.json"
    proc = subprocess.run(
        [sys.executable, "-m", "idreader", "scan", str(exam_pdf), "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        env={"PATH": "/usr/bin:/bin", "OMP_NUM_THREADS": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == ""
    assert _summary(proc.stderr)[:2] == (4, 4)
    assert json.loads(out.read_text())["results"] == library.to_dict()["results"]


def test_user_guide_states_the_current_defaults() -> None:
    guide = (ROOT / "docs" / "user-guide.md").read_text(encoding="utf-8")
    defaults = ReaderConfig()
    assert f"(default {defaults.confidence_threshold})" in guide
    assert f"`--threshold`, default {defaults.confidence_threshold})" in guide
    assert f"(default {defaults.dpi}; 72 to 1200)" in guide
    assert f"processes (default {defaults.workers})" in guide


def test_version(capsys) -> None:
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"idreader {__version__}"


def test_template_writes_a_pdf_whose_grid_is_found(tmp_path, capsys) -> None:
    import pymupdf

    from idreader.grid import find_id_grid
    from idreader.pages import iter_pages

    out = tmp_path / "box.pdf"
    assert main(["template", "--digits", "6", "--out", str(out)]) == 0
    assert str(out) in capsys.readouterr().err
    with pymupdf.open(out) as doc:
        assert doc.page_count == 1
    page = next(iter_pages(out, dpi=200))
    grid = find_id_grid(page.image, id_length=6)
    assert grid is not None and len(grid.cells) == 6


def test_serve_without_the_extra_prints_the_install_hint(monkeypatch, capsys) -> None:
    for name in list(sys.modules):
        if name.startswith("idreader.server"):
            monkeypatch.delitem(sys.modules, name)
    for name in ("fastapi", "uvicorn"):
        monkeypatch.setitem(sys.modules, name, None)  # makes `import fastapi` fail
    assert main(["serve", "--port", "8765"]) == 2
    err = capsys.readouterr().err
    assert "pip install 'idreader[serve]'" in err and len(err.strip().splitlines()) == 1


def test_format_table_aligns_columns_and_shows_errors() -> None:
    scan = ScanResult(
        (
            PageResult("a.pdf", 1, "0123", 0.5, True, ("low_confidence", "inner_blank")),
            PageResult.failed("long-name.pdf", 12, "cannot open"),
        )
    )
    assert format_table(scan).splitlines() == [
        "source         page  student_id  confidence  flagged  match  reasons",
        "a.pdf          1     0123        0.500       YES             low_confidence; inner_blank",
        "long-name.pdf  12    -           0.000       YES             read_error (cannot open)",
    ]
