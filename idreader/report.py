"""The HTML review report: one self-contained page a person checks flagged IDs with.

The page embeds every picture as a base64 PNG data URI and carries its own CSS, so it
can be mailed, archived or opened offline. Flagged pages come first, least confident
first; a CSS-only toggle switches between "flagged" and "all pages" (no script needed).
CSV and JSON exports live on :class:`~idreader.results.ScanResult` itself.
"""

from __future__ import annotations

import base64
import logging
import os
from html import escape
from importlib import resources
from pathlib import Path

import numpy as np

from .results import DigitResult, Match, PageResult, ScanResult

logger = logging.getLogger(__name__)

#: Every reason code (DESIGN.md) in plain words, as the report and the user guide show it.
REASON_TEXT: dict[str, str] = {
    "no_id_grid": "No ID box grid was found on this page.",
    "low_confidence": "The reader is not confident that the whole ID is right.",
    "ambiguous_digit": "At least one box could be either of two digits.",
    "inner_blank": "A box in the middle of the ID is empty.",
    "unexpected_length": "No digit was read, or not the expected number of digits.",
    "not_in_classlist": "The ID read matches no student on the class list.",
    "duplicate_id": "Another page has the same ID.",
    "low_match_margin": "The class-list match is uncertain: another student, or no one on"
    " the list, fits this page almost as well.",
    "read_error": "The page could not be read at all (see the error).",
}

#: Boxes read with less confidence than this are outlined, to lead the reviewer's eye.
_DOUBTFUL_BOX = 0.9


def reason_text(code: str) -> str:
    """Plain-words explanation of a reason code (the code itself if it is unknown).

    Examples
    --------
    >>> reason_text("inner_blank")
    'A box in the middle of the ID is empty.'
    """
    return REASON_TEXT.get(code, code)


def review_order(results: tuple[PageResult, ...] | list[PageResult]) -> list[PageResult]:
    """Pages in the order a reviewer should see them: flagged first, least confident first.

    Ties keep input order, so the report is stable from run to run.

    Examples
    --------
    >>> a = PageResult("a.pdf", 1, "1", 0.99, flagged=False)
    >>> b = PageResult("a.pdf", 2, "2", 0.50, flagged=True)
    >>> [p.page for p in review_order([a, b])]
    [2, 1]
    """
    indexed = list(enumerate(results))
    indexed.sort(key=lambda item: (not item[1].flagged, item[1].confidence, item[0]))
    return [page for _, page in indexed]


def render_html(scan: ScanResult, *, title: str = "idreader review report") -> str:
    """Render a scan as one self-contained HTML review page.

    Parameters
    ----------
    scan : ScanResult
        The run to show. Pages read with ``ReaderConfig(keep_images=True)`` show their
        grid crop and cleaned cells; pages without images (errors, no grid) still show
        their ID, reasons and error.
    title : str
        Page title and heading.

    Returns
    -------
    str
        A complete HTML document (no external resources).

    Examples
    --------
    >>> from idreader.results import ScanResult, PageResult
    >>> html = render_html(ScanResult((PageResult.failed("a.pdf", 1, "corrupt"),)))
    >>> "could not be read" in html
    True
    """
    pages = review_order(scan.results)
    n_flagged = sum(p.flagged for p in pages)
    # Open on the flagged pages when there are any: that is the reviewer's work list.
    show_flagged = "checked" if n_flagged else ""
    show_all = "" if n_flagged else "checked"
    body = "\n".join(_page_html(p) for p in pages) or '<p class="empty">No pages.</p>'
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(title)}</title>
<style>
{_css()}
</style>
</head>
<body>
<header>
<h1>{escape(title)}</h1>
{_summary_html(scan)}
</header>
<input type="radio" name="view" id="view-flagged" {show_flagged}>
<input type="radio" name="view" id="view-all" {show_all}>
<nav class="toggle">
<label for="view-flagged" id="toggle-flagged">Flagged pages ({n_flagged})</label>
<label for="view-all" id="toggle-all">All pages ({len(pages)})</label>
</nav>
<main>
{body}
</main>
<footer>idreader model {escape(scan.model_version or "unknown")} &middot;
{len(pages)} pages in {scan.seconds:.1f} s</footer>
</body>
</html>
"""


def write_html(
    scan: ScanResult, path: str | os.PathLike[str], *, title: str = "idreader review report"
) -> Path:
    """Write :func:`render_html` to ``path`` (UTF-8) and return the path.

    Examples
    --------
    >>> write_html(scan, "review.html")  # doctest: +SKIP
    PosixPath('review.html')
    """
    path = Path(path)
    path.write_text(render_html(scan, title=title), encoding="utf-8")
    logger.info("wrote review report %s (%d pages)", path, len(scan.results))
    return path


def _css() -> str:
    return resources.files("idreader").joinpath("templates/report.css").read_text("utf-8")


def _summary_html(scan: ScanResult) -> str:
    summary = scan.summary
    items = [  # (css class, count, label)
        ("pages", summary["pages"], "pages"),
        ("read", summary["read"], "read"),
        ("flagged", summary["flagged"], "flagged"),
        ("errors", summary["errors"], "errors"),
    ]
    if "matched" in summary:
        items.append(("matched", summary["matched"], "matched"))
        items.append(("unmatched", len(scan.unmatched_students), "students without a page"))
    cells = "".join(
        f'<div class="stat stat-{key}"><b>{count}</b><span>{label}</span></div>'
        for key, count, label in items
    )
    html = f'<section class="summary">{cells}</section>'
    if scan.unmatched_students:
        names = "".join(
            f"<li><code>{escape(sid)}</code> {escape(name)}</li>"
            for sid, name in scan.unmatched_students
        )
        html += (
            '<details class="unmatched"><summary>Students on the class list with no page'
            f" ({len(scan.unmatched_students)})</summary><ul>{names}</ul></details>"
        )
    return html


def _page_html(page: PageResult) -> str:
    classes = "page flagged" if page.flagged else "page ok"
    shown_id = escape(page.student_id) if page.student_id else "&mdash;"
    badge = (
        '<span class="badge flag">check</span>'
        if page.flagged
        else '<span class="badge ok">ok</span>'
    )
    parts = [
        f'<article class="{classes}" data-flagged="{str(page.flagged).lower()}"'
        f' data-confidence="{page.confidence:.6f}">',
        '<div class="head">',
        f'<span class="where">{escape(page.source)} &middot; page {page.page}</span>',
        f'<span class="id">{shown_id}</span>',
        f'<span class="conf">{page.confidence:.1%}</span>{badge}',
        "</div>",
    ]
    if page.error:
        parts.append(f'<p class="error">{escape(page.error)}</p>')
    if page.reasons:
        reasons = "".join(
            f"<li><code>{escape(code)}</code> {escape(reason_text(code))}</li>"
            for code in page.reasons
        )
        parts.append(f'<ul class="reasons">{reasons}</ul>')
    if page.match is not None:
        parts.append(_match_html(page.match, page.student_id))
    if page.images is not None:
        parts.append(
            f'<img class="grid" alt="ID grid of page {page.page}"'
            f' src="{_png_data_uri(page.images.grid)}">'
        )
        parts.append(_cells_html(page.images.cells, page.digits))
    elif page.digits:
        parts.append(_cells_html(None, page.digits))
    parts.append("</article>")
    return "\n".join(parts)


def _match_html(match: Match, student_id: str | None) -> str:
    text = (
        f"Class list: <code>{escape(match.id)}</code> {escape(match.name)} ({match.confidence:.1%})"
    )
    if match.runner_up:
        text += f"; runner-up <code>{escape(match.runner_up)}</code> (margin {match.margin:.1%})"
    differ = _differing_boxes(student_id or "", match.id)
    if differ:
        # The list overruled the handwriting here; say where, so the reviewer can look.
        boxes = ", ".join(str(i) for i in differ)
        text += f' <span class="differs">differs from the digits read in box {boxes}</span>'
    return f'<p class="match">{text}</p>'


def _differing_boxes(read: str, listed: str) -> list[int]:
    """1-based positions where two IDs differ (a missing digit counts as different).

    Examples
    --------
    >>> _differing_boxes("12239799", "12339799")
    [3]
    """
    return [
        i + 1 for i in range(max(len(read), len(listed))) if read[i : i + 1] != listed[i : i + 1]
    ]


def _cells_html(cells: np.ndarray | None, digits: tuple[DigitResult, ...]) -> str:
    """One figure per box: the cleaned image (if kept), the reading used, the runner-up."""
    n = max(len(digits), 0 if cells is None else len(cells))
    figures = []
    for i in range(n):
        img = ""
        if cells is not None and i < len(cells):
            img = f'<img alt="box {i + 1}" src="{_png_data_uri(cells[i])}">'
        caption = ""
        figure = "<figure>"
        if i < len(digits):
            caption = _caption(digits[i])
            if digits[i].confidence < _DOUBTFUL_BOX:
                figure = '<figure class="doubt">'
        figures.append(f"{figure}{img}<figcaption>{caption}</figcaption></figure>")
    return f'<div class="cells">{"".join(figures)}</div>'


def _caption(digit: DigitResult) -> str:
    """Caption of one box: the value used in the ID (bold), then the likeliest other value.

    The value used is not always the most probable one: the ID's format can rule it out.
    """
    text = f"<b>{escape(_label(digit.value))}</b> {digit.confidence:.0%}"
    other = next(((v, p) for v, p in digit.alternatives if v != digit.value), None)
    if other is not None:
        text += f"<br>{escape(_label(other[0]))} {other[1]:.0%}"
    return text


def _label(value: str) -> str:
    return value if value else "blank"


def _png_data_uri(image: np.ndarray) -> str:
    """Encode a gray image (uint8, or float in [0, 1]) as a ``data:image/png`` URI."""
    import cv2

    img = np.asarray(image)
    if img.dtype != np.uint8:
        img = (np.clip(img, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    ok, buf = cv2.imencode(".png", img)
    if not ok:
        raise ValueError(f"could not encode a {img.shape} image as PNG")
    return "data:image/png;base64," + base64.b64encode(buf.tobytes()).decode("ascii")
