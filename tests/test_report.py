"""The HTML review report: content, escaping, order, and rendering in a real Chromium."""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from chromium import Browser

from idreader.report import REASON_TEXT, reason_text, render_html, review_order, write_html
from idreader.results import DigitResult, Match, PageImages, PageResult, ScanResult

DESIGN_REASON_CODES = (
    "no_id_grid",
    "low_confidence",
    "ambiguous_digit",
    "inner_blank",
    "unexpected_length",
    "not_in_classlist",
    "duplicate_id",
    "low_match_margin",
    "read_error",
)
DOCS = Path(__file__).parent.parent / "docs"


def _page_with_images(
    mnist: tuple[np.ndarray, np.ndarray],
    start: int,
    *,
    page: int,
    confidence: float,
    flagged: bool,
    reasons: tuple[str, ...] = (),
) -> PageResult:
    """A page whose 'cells' are real MNIST digits and whose grid crop is drawn from them."""
    images, labels = mnist
    cells = images[start : start + 8].astype(np.float32) / 255.0
    boxes = [
        cv2.copyMakeBorder(255 - d, 4, 4, 4, 4, cv2.BORDER_CONSTANT, value=0)
        for d in images[start : start + 8]
    ]
    digits = tuple(
        DigitResult(str(lab), 0.97, ((str(lab), 0.97), (str((lab + 1) % 10), 0.02)))
        for lab in labels[start : start + 8]
    )
    return PageResult(
        source="exams.pdf",
        page=page,
        student_id="".join(d.value for d in digits),
        confidence=confidence,
        flagged=flagged,
        reasons=reasons,
        digits=digits,
        box=(10.0, 20.0, 200.0, 50.0),
        match=Match("12345678", "Ada Lovelace", 0.91, margin=0.4, runner_up="12345679"),
        images=PageImages(grid=np.hstack(boxes), cells=cells),
    )


@pytest.fixture()
def scan(mnist: tuple[np.ndarray, np.ndarray]) -> ScanResult:
    return ScanResult(
        results=(
            _page_with_images(mnist, 0, page=1, confidence=0.99, flagged=False),
            _page_with_images(
                mnist,
                8,
                page=2,
                confidence=0.42,
                flagged=True,
                reasons=("low_confidence", "ambiguous_digit"),
            ),
            PageResult(source="exams.pdf", page=3, reasons=("no_id_grid",)),
            PageResult.failed("broken.pdf", 1, "broken.pdf: cannot open: not a PDF"),
            _page_with_images(mnist, 16, page=4, confidence=0.95, flagged=False),
        ),
        unmatched_students=(("20000001", "Grace Hopper"),),
        seconds=1.5,
        model_version="test-1",
    )


def test_every_design_reason_code_has_plain_words() -> None:
    assert set(DESIGN_REASON_CODES) <= set(REASON_TEXT)
    assert all(text.endswith(".") and len(text) > 20 for text in REASON_TEXT.values())
    assert reason_text("some_future_code") == "some_future_code"


def test_user_guide_explains_every_reason_code() -> None:
    guide = (DOCS / "user-guide.md").read_text(encoding="utf-8")
    missing = [code for code in REASON_TEXT if f"`{code}`" not in guide]
    assert missing == []


def test_review_order_is_flagged_first_then_least_confident(scan: ScanResult) -> None:
    ordered = [(p.source, p.page) for p in review_order(scan.results)]
    # flagged (0.0, 0.0 in input order, then 0.42), then unflagged 0.95, 0.99
    assert ordered == [
        ("exams.pdf", 3),
        ("broken.pdf", 1),
        ("exams.pdf", 2),
        ("exams.pdf", 4),
        ("exams.pdf", 1),
    ]


def test_html_is_self_contained_with_decodable_images(scan: ScanResult) -> None:
    html = render_html(scan)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)
    uris = re.findall(r'src="data:image/png;base64,([^"]+)"', html)
    # 3 pages with images: one grid crop and 8 cells each
    assert len(uris) == 3 * 9
    decoded = [cv2.imdecode(np.frombuffer(base64.b64decode(u), np.uint8), 0) for u in uris]
    shapes = {d.shape for d in decoded}
    assert (28, 28) in shapes and (36, 8 * 36) in shapes
    # a cell is the model input: white ink on black, as a round trip of the float image
    first_cell = scan.results[1].images.cells[0]
    cell_pngs = [d for d in decoded if d.shape == (28, 28)]
    assert any(np.abs(d / 255.0 - first_cell).max() < 0.003 for d in cell_pngs)


def test_summary_match_reasons_and_errors_are_shown(scan: ScanResult) -> None:
    html = render_html(scan, title="Midterm 1")
    assert "<title>Midterm 1</title>" in html
    assert re.search(r"<b>5</b><span>pages</span>", html)
    assert re.search(r"<b>3</b><span>flagged</span>", html)
    assert re.search(r"<b>1</b><span>errors</span>", html)
    assert "<b>1</b><span>students without a page</span>" in html
    assert "<li><code>20000001</code> Grace Hopper</li>" in html
    assert REASON_TEXT["low_confidence"] in html and REASON_TEXT["no_id_grid"] in html
    assert "broken.pdf: cannot open: not a PDF" in html
    assert "runner-up <code>12345679</code>" in html and "Ada Lovelace" in html
    # each cell: the reading used (bold) and the runner-up, with probabilities
    assert "<b>7</b> 97%<br>8 2%" in html  # mnist[0] is a 7


def test_match_that_overrules_the_reading_says_which_boxes_differ() -> None:
    page = PageResult(
        "a.pdf",
        1,
        "12239799",
        0.53,
        flagged=False,
        match=Match("12339799", "Amara Okafor", 0.99),
    )
    html = render_html(ScanResult((page,)))
    assert "differs from the digits read in box 3</span>" in html
    same = PageResult("a.pdf", 1, "1234", 0.99, flagged=False, match=Match("1234", "B", 0.99))
    assert "differs" not in render_html(ScanResult((same,))).split("</style>")[1]


def test_all_text_is_escaped() -> None:
    page = PageResult(
        source="<script>alert(1)</script>.pdf",
        page=1,
        student_id="12",
        confidence=0.5,
        reasons=("<b>odd</b>",),
        error="a & b <c>",
        match=Match("1", "O'Brien <x>", 0.5, runner_up="<y>"),
    )
    html = render_html(ScanResult((page,)), title="<t>")
    assert "<script>" not in html and "&lt;script&gt;" in html
    assert "<b>odd</b>" not in html and "a &amp; b &lt;c&gt;" in html
    assert "O&#x27;Brien &lt;x&gt;" in html and "&lt;y&gt;" in html and "<t>" not in html


def test_blank_cells_are_labelled(mnist: tuple[np.ndarray, np.ndarray]) -> None:
    page = PageResult(
        "a.pdf",
        1,
        "1",
        0.9,
        flagged=False,
        digits=(DigitResult("1", 0.9, (("1", 0.9), ("", 0.1))), DigitResult("", 0.99)),
    )
    html = render_html(ScanResult((page,)))
    assert "<b>1</b> 90%<br>blank 10%" in html
    assert "<b>blank</b> 99%" in html
    # the box read with 90% is not outlined; a less sure one would be
    assert '<figure class="doubt">' not in html
    unsure = PageResult("a.pdf", 1, "1", 0.6, digits=(DigitResult("1", 0.6, (("1", 0.6),)),))
    assert render_html(ScanResult((unsure,))).count('<figure class="doubt">') == 1


def test_cell_caption_shows_the_value_used_not_only_the_most_probable() -> None:
    # With id_length=8 and only 7 boxes found nothing is valid: every box is reported
    # blank although each one's most probable reading is a digit.
    page = PageResult(
        "a.pdf", 1, None, 0.0, digits=(DigitResult("", 0.001, (("9", 0.998), ("", 0.001))),)
    )
    html = render_html(ScanResult((page,)))
    assert "<b>blank</b> 0%<br>9 100%" in html
    assert '<figure class="doubt">' in html


def test_write_html_writes_utf8_file(scan: ScanResult, tmp_path: Path) -> None:
    path = write_html(scan, tmp_path / "r.html", title="Prüfung")
    assert path == tmp_path / "r.html"
    assert "<title>Prüfung</title>" in path.read_text(encoding="utf-8")


_CHECKS = """
(async () => {
  const imgs = [...document.images];
  await Promise.all(imgs.map(i => i.decode()));
  const visible = () => [...document.querySelectorAll('article.page')]
      .filter(a => a.offsetParent !== null).map(a => a.dataset.flagged === 'true');
  const before = visible();
  document.getElementById('toggle-all').click();
  const all = visible();
  document.getElementById('toggle-flagged').click();
  return JSON.stringify({
    href: location.href,
    n_images: imgs.length,
    broken: imgs.filter(i => !i.complete || i.naturalWidth === 0).length,
    order: [...document.querySelectorAll('article.page')].map(a => a.dataset.flagged),
    confidences: [...document.querySelectorAll('article.page')].map(a => +a.dataset.confidence),
    before, all, after: visible(),
  });
})()
"""


@pytest.mark.browser
def test_report_renders_in_headless_chromium(
    scan: ScanResult, tmp_path: Path, browser: Browser
) -> None:
    path = write_html(scan, tmp_path / "report.html")
    checks = json.loads(browser.evaluate(path.as_uri(), _CHECKS))
    assert checks["href"] == path.as_uri()
    assert checks["n_images"] == 27 and checks["broken"] == 0
    assert checks["order"] == ["true"] * 3 + ["false"] * 2
    assert checks["confidences"] == [0.0, 0.0, 0.42, 0.95, 0.99]
    # opens on the flagged pages; the toggle shows all and back
    assert checks["before"] == [True] * 3
    assert checks["all"] == [True] * 3 + [False] * 2
    assert checks["after"] == [True] * 3


@pytest.mark.browser
def test_report_without_flagged_pages_opens_on_all(tmp_path: Path, browser: Browser) -> None:
    page = PageResult("a.pdf", 1, "1234", 0.99, flagged=False)
    path = write_html(ScanResult((page,)), tmp_path / "ok.html")
    visible = browser.evaluate(
        path.as_uri(),
        "[...document.querySelectorAll('article.page')].filter(a => a.offsetParent).length",
    )
    assert visible == 1
