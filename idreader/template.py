"""A printable ID box for exam covers, drawn to the sizes the reader expects.

``idreader template`` writes this one-page A4 PDF: a "Student number" label cell to the
left of a row of 8 mm boxes ruled with 0.35 mm lines (the label tells the reader which
way up the page is), optional Name and Section rows, and the instruction to write one
digit per box, left-aligned. Everything is vector drawing, so it prints sharp at any
size; print it at 100 % ("actual size"), not "fit to page".

>>> from idreader.template import write_template          # doctest: +SKIP
>>> write_template("id_box.pdf", digits=9, section_row=True)  # doctest: +SKIP
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np

from .errors import ConfigError

#: Side of one ID box (between the centres of its walls), in millimetres.
BOX_MM = 8.0
#: Width of the ruled lines, in millimetres.
LINE_MM = 0.35
#: A4 portrait, in millimetres.
PAGE_MM = (210.0, 297.0)

_PT_PER_MM = 72 / 25.4
#: Most ID boxes that fit across A4 next to the label cell.
MAX_DIGITS = 18

_LEFT_MM, _TOP_MM = 20.0, 40.0  # top-left corner of the table (moved left for long rows)
_MIN_MARGIN_MM = 10.0
_ROW_MM = 10.0  # height of the Name row
_TEXT_PT = 11.0
_INSTRUCTIONS = (
    "Write your {label} in the boxes below: one digit per box, left-aligned.",
    "Use a dark pen and keep each digit inside its box.",
)


@dataclass(frozen=True)
class TemplateGeometry:
    """What :func:`write_template` draws, in millimetres from the page's top-left.

    Attributes
    ----------
    lines : tuple of (x0, y0, x1, y1)
        Ruled segments, each ``LINE_MM`` wide.
    texts : tuple of (text, x, y_baseline, size_pt)
    id_cells : ndarray of float, shape (digits, 4, 2)
        Inner corners tl, tr, br, bl (x, y) of each ID box (inside the ink of the walls).
    """

    lines: tuple[tuple[float, float, float, float], ...]
    texts: tuple[tuple[str, float, float, float], ...]
    id_cells: np.ndarray


def template_geometry(
    *,
    digits: int = 8,
    label: str = "Student number",
    name_row: bool = True,
    section_row: bool = False,
) -> TemplateGeometry:
    """Lay out the template's table (see :func:`write_template` for the parameters).

    Examples
    --------
    >>> geometry = template_geometry(digits=8)
    >>> geometry.id_cells.shape
    (8, 4, 2)
    """
    if not 1 <= digits <= MAX_DIGITS:
        raise ConfigError(f"digits must be 1..{MAX_DIGITS} (what fits across A4), not {digits}")
    import pymupdf

    label_w = max(40.0, pymupdf.get_text_length(label, "helv", _TEXT_PT) / _PT_PER_MM + 6.0)
    width = label_w + max(digits, 3) * BOX_MM
    if width > PAGE_MM[0] - 2 * _MIN_MARGIN_MM:
        raise ConfigError(f"a {digits}-box row with the label {label!r} does not fit across A4")
    left = min(_LEFT_MM, (PAGE_MM[0] - width) / 2)  # long rows move left to stay on the page
    x = left + label_w
    right = left + width
    # (label, height, boxes (0 = one wide cell), is the ID row)
    rows: list[tuple[str, float, int, bool]] = []
    if name_row:
        rows.append(("Name", _ROW_MM, 0, False))
    rows.append((label, BOX_MM, digits, True))
    if section_row:
        rows.append(("Section", BOX_MM, 3, False))

    lines: list[tuple[float, float, float, float]] = []
    texts: list[tuple[str, float, float, float]] = []
    y = _TOP_MM
    for text in _INSTRUCTIONS:
        texts.append((text.format(label=label.lower()), left, y - 14.0, _TEXT_PT))
        y += 6.0
    y = _TOP_MM
    id_top = y
    lines.append((left, y, right, y))
    for text, height, boxes, is_id in rows:
        texts.append((text, left + 2.0, y + height / 2 + 1.4, _TEXT_PT))
        walls = [x + k * BOX_MM for k in range(boxes + 1)] if boxes else [x]
        lines.extend((wx, y, wx, y + height) for wx in walls)
        if is_id:
            id_top = y
        y += height
        lines.append((left, y, right, y))
    lines.extend([(left, _TOP_MM, left, y), (right, _TOP_MM, right, y)])
    note = f"{digits} boxes of {BOX_MM:g} mm. Print at actual size (100 %), not fit to page."
    texts.append((note, left, y + 8.0, 8.0))

    half = LINE_MM / 2
    x0 = x + BOX_MM * np.arange(digits) + half
    y0, y1 = np.full(digits, id_top + half), np.full(digits, id_top + BOX_MM - half)
    x1 = x0 + BOX_MM - LINE_MM
    cells = np.stack([np.stack(c, 1) for c in ((x0, y0), (x1, y0), (x1, y1), (x0, y1))], 1)
    return TemplateGeometry(tuple(lines), tuple(texts), cells)


def write_template(
    path: str | os.PathLike,
    *,
    digits: int = 8,
    label: str = "Student number",
    name_row: bool = True,
    section_row: bool = False,
) -> None:
    """Write a printable one-page A4 PDF with an ID box the reader is tuned for.

    Parameters
    ----------
    path : path
        Where to write the PDF.
    digits : int
        Number of ID boxes (1..18).
    label : str
        Text of the label cell left of the boxes.
    name_row : bool
        Add a "Name" row above the ID boxes.
    section_row : bool
        Add a "Section" row of 3 boxes below the ID boxes.

    Examples
    --------
    >>> write_template("id_box.pdf", digits=8)                # doctest: +SKIP
    """
    import pymupdf

    geometry = template_geometry(
        digits=digits, label=label, name_row=name_row, section_row=section_row
    )
    doc = pymupdf.open()
    page = doc.new_page(width=PAGE_MM[0] * _PT_PER_MM, height=PAGE_MM[1] * _PT_PER_MM)
    shape = page.new_shape()
    for x0, y0, x1, y1 in geometry.lines:
        # extend each segment by half a line so that corners are closed squarely
        dx = LINE_MM / 2 if y0 == y1 else 0.0
        dy = LINE_MM / 2 if x0 == x1 else 0.0
        shape.draw_line(
            pymupdf.Point((x0 - dx) * _PT_PER_MM, (y0 - dy) * _PT_PER_MM),
            pymupdf.Point((x1 + dx) * _PT_PER_MM, (y1 + dy) * _PT_PER_MM),
        )
    shape.finish(color=(0, 0, 0), width=LINE_MM * _PT_PER_MM, lineCap=0)
    shape.commit()
    for text, x, y, size in geometry.texts:
        page.insert_text((x * _PT_PER_MM, y * _PT_PER_MM), text, fontname="helv", fontsize=size)
    doc.set_metadata({"title": f"{label} box ({digits} digits)", "creator": "idreader"})
    doc.save(os.fspath(path), garbage=3, deflate=True)
    doc.close()
