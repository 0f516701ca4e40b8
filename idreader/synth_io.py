"""Writing synthetic scans to disk: a PDF of page images and a truth CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Iterable, Sequence

import numpy as np


def write_pdf(
    pages: Sequence[np.ndarray],
    path: str | os.PathLike,
    *,
    dpi: int = 200,
    jpeg_quality: int = 85,
) -> None:
    """Write gray page images as a PDF, like a scanner: one embedded JPEG per page.

    Parameters
    ----------
    pages : sequence of ndarray of uint8, shape (H, W)
        Page images; each PDF page is sized so that its image is ``dpi`` pixels per
        inch (an A4 scan at 200 dpi gives an A4 page).
    path : path
    dpi : int
    jpeg_quality : int

    Examples
    --------
    >>> write_pdf([page.image for page in pages], "scans.pdf")   # doctest: +SKIP
    """
    import cv2
    import pymupdf

    doc = pymupdf.open()
    for image in pages:
        h, w = image.shape
        params = [cv2.IMWRITE_JPEG_QUALITY, jpeg_quality, cv2.IMWRITE_JPEG_OPTIMIZE, 1]
        ok, encoded = cv2.imencode(".jpg", image, params)
        if not ok:
            raise ValueError("cannot encode page image as JPEG")
        page = doc.new_page(width=w * 72.0 / dpi, height=h * 72.0 / dpi)
        page.insert_image(page.rect, stream=encoded.tobytes())
    # no dates and no random file ID: the same pages give the same bytes
    doc.set_metadata({"producer": "idreader.synth", "creator": "idreader.synth"})
    doc.save(os.fspath(path), garbage=3, deflate=True, no_new_id=True)
    doc.close()


def write_truth_csv(rows: Iterable[tuple[str, int, str]], path: str | os.PathLike) -> None:
    """Write ground truth as CSV with header ``source,page,student_id``.

    Parameters
    ----------
    rows : iterable of (source, page, student_id)
        ``page`` is 1-based; ``student_id`` "" for a blank ID.
    path : path

    Examples
    --------
    >>> write_truth_csv([("demo.pdf", 1, "01234567")], "truth.csv")   # doctest: +SKIP
    """
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["source", "page", "student_id"])
        for source, page, student_id in rows:
            writer.writerow([source, int(page), student_id])
