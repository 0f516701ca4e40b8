"""Turn inputs (PDFs, images, raw bytes) into gray page images.

The first stage of the pipeline: every input becomes a stream of :class:`Page`
objects, one per page, in order. A bad input never raises here: it becomes a page
whose ``image`` is None and whose ``error`` names the file and the page, so a batch
always gets one result per page.

>>> from idreader.pages import iter_pages                  # doctest: +SKIP
>>> [(p.number, p.image.shape) for p in iter_pages("exams.pdf", dpi=150)]  # doctest: +SKIP
[(1, (1754, 1240)), (2, (1754, 1240))]
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .pages_formats import image_resolutions, sniff_type, tiff_resolutions

logger = logging.getLogger(__name__)

#: File extensions :func:`expand_inputs` picks from a directory.
SUPPORTED_SUFFIXES = (".pdf", ".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp")

#: Pixels per inch assumed for an image file that does not state its resolution.
DEFAULT_IMAGE_DPI = 200.0

_IMAGE_SUFFIXES = frozenset(SUPPORTED_SUFFIXES) - {".pdf"}


@dataclass(frozen=True)
class Page:
    """One page of an input, rendered to gray.

    Parameters
    ----------
    source : str
        The input's name as given by the caller.
    number : int
        1-based page number within the source.
    image : ndarray of uint8, shape (H, W), or None
        The gray page; None when the page could not be read.
    dpi : float
        Pixels per inch of ``image`` (PDF: the render dpi; image: the file's dpi or 200).
    error : str or None
        Why the page could not be read, naming file and page.
    """

    source: str
    number: int
    image: np.ndarray | None
    dpi: float
    error: str | None = None


def expand_inputs(inputs: str | os.PathLike | Iterable[str | os.PathLike]) -> list[Path]:
    """Expand directories into their supported files; keep other paths as given.

    Parameters
    ----------
    inputs : path or iterable of paths
        Files and directories. A directory contributes its files with a supported
        suffix (sorted by name, not recursive); any other path is kept, missing ones
        included, so that they later become error pages.

    Returns
    -------
    list of Path

    Examples
    --------
    >>> expand_inputs(["scans/", "extra.pdf"])          # doctest: +SKIP
    [PosixPath('scans/a.pdf'), PosixPath('scans/b.tif'), PosixPath('extra.pdf')]
    """
    if isinstance(inputs, (str, os.PathLike)):
        inputs = [inputs]
    out: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            out.extend(
                sorted(
                    p
                    for p in path.iterdir()
                    if p.is_file() and p.suffix.lower() in SUPPORTED_SUFFIXES
                )
            )
        else:
            out.append(path)
    return out


def count_pages(source: str | os.PathLike | bytes) -> int:
    """Number of pages :func:`iter_pages` yields for ``source`` (1 if it cannot be opened).

    Examples
    --------
    >>> count_pages("exams.pdf")                          # doctest: +SKIP
    24
    """
    try:
        target, head, suffix = _open_source(source, None)
        kind = sniff_type(head) or _kind_from_suffix(suffix)
        if kind == "tiff":
            return max(len(tiff_resolutions(_read_all(target))), 1)
    except OSError:
        return 1
    if kind != "pdf":
        return 1
    doc = _open_pdf(target)
    if doc is None:
        return 1
    try:
        return 1 if doc.needs_pass else max(doc.page_count, 1)
    finally:
        _close_pdf(doc)


def iter_pages(
    source: str | os.PathLike | bytes,
    *,
    dpi: int = 200,
    name: str | None = None,
    pages: Sequence[int] | None = None,
) -> Iterator[Page]:
    """Yield the pages of a PDF or image as gray uint8 images.

    Parameters
    ----------
    source : path or bytes
        A PDF or image file (PNG, JPEG, TIFF incl. multi-page, BMP), or its bytes
        (the type is sniffed from the magic bytes).
    dpi : int
        Resolution at which PDF pages are rendered. Images keep their own pixels.
    name : str, optional
        Name used in ``Page.source`` and error messages (default: the path as given,
        or ``"<bytes>"``).
    pages : sequence of int, optional
        Only these 1-based page numbers, in the order given.

    Yields
    ------
    Page
        One per page. A missing, unsupported, encrypted or corrupt input yields one
        page (number 1) with ``image=None`` and an ``error``; a page that fails to
        render yields that page with its error and the other pages still come.

    Examples
    --------
    >>> for page in iter_pages("exams.pdf", dpi=200):    # doctest: +SKIP
    ...     print(page.number, page.image.shape, page.error)
    1 (2339, 1654) None
    """
    if name is None:
        name = "<bytes>" if isinstance(source, (bytes, bytearray, memoryview)) else str(source)
    wanted = None if pages is None else list(pages)

    def failed(message: str, number: int = 1) -> Page:
        logger.info("%s: page %d: %s", name, number, message)
        return Page(name, number, None, float(dpi), f"{name}: page {number}: {message}")

    first_wanted = wanted is None or 1 in wanted
    try:
        target, head, suffix = _open_source(source, name)
        kind = sniff_type(head) or _kind_from_suffix(suffix)
        data = _read_all(target) if kind in ("image", "tiff") else b""
    except OSError as exc:
        if first_wanted:
            yield failed(f"cannot read file: {exc.strerror or exc}")
        return
    if kind == "pdf":
        yield from _pdf_pages(target, dpi=dpi, wanted=wanted, failed=failed, name=name)
    elif kind is None:
        if first_wanted:
            yield failed("not a PDF or a supported image (PNG, JPEG, TIFF, BMP)")
    else:
        yield from _image_pages(data, wanted=wanted, failed=failed, name=name)


def _open_source(
    source: str | os.PathLike | bytes, name: str | None
) -> tuple[Path | bytes, bytes, str]:
    """(the path or bytes to open, the first KiB for sniffing, lower-case name suffix).

    A PDF path is handed to MuPDF as a path, so a large scan is not read into memory.
    """
    if isinstance(source, (bytes, bytearray, memoryview)):
        data = bytes(source)
        return data, data[:1024], Path(name or "").suffix.lower()
    path = Path(source)
    with path.open("rb") as handle:
        head = handle.read(1024)
    return path, head, path.suffix.lower()


def _read_all(target: Path | bytes) -> bytes:
    return target if isinstance(target, bytes) else target.read_bytes()


def _kind_from_suffix(suffix: str) -> str | None:
    """Fallback type from a suffix, so that a corrupt ``x.pdf`` gets MuPDF's own message."""
    if suffix == ".pdf":
        return "pdf"
    return "image" if suffix in _IMAGE_SUFFIXES else None


def _open_pdf(target: Path | bytes, errors: list[str] | None = None):  # -> Document | None
    import pymupdf

    with _mupdf_lock:
        # MuPDF prints its complaints to stderr; keep them in our error message instead.
        pymupdf.TOOLS.mupdf_display_errors(False)
        pymupdf.TOOLS.reset_mupdf_warnings()
        try:
            if isinstance(target, bytes):
                return pymupdf.open(stream=target, filetype="pdf")
            return pymupdf.open(target, filetype="pdf")
        except (RuntimeError, ValueError) as exc:  # pymupdf.FileDataError is a RuntimeError
            if errors is not None:
                # the exception says little ("Failed to open stream"); MuPDF's complaint says why
                cause = pymupdf.TOOLS.mupdf_warnings().split("\n")[0]
                errors.append(cause or str(exc) or type(exc).__name__)
            return None


def _close_pdf(doc) -> None:  # doc: pymupdf.Document
    import pymupdf

    with _mupdf_lock:
        doc.close()
        # MuPDF keeps rendered resources in a global store; a long-running service
        # would otherwise hold hundreds of MiB after a few large scans.
        pymupdf.TOOLS.store_shrink(100)


def _pdf_pages(
    target: Path | bytes,
    *,
    dpi: int,
    wanted: list[int] | None,
    failed: Callable[..., Page],
    name: str,
) -> Iterator[Page]:

    errors: list[str] = []
    doc = _open_pdf(target, errors)
    first_wanted = wanted is None or 1 in wanted
    if doc is None:
        if first_wanted:
            yield failed(f"cannot open PDF: {errors[0]}")
        return
    try:
        if doc.needs_pass:
            if first_wanted:
                yield failed("PDF is encrypted (password required)")
            return
        if doc.page_count == 0:
            if first_wanted:
                yield failed("PDF has no pages")
            return
        for number in wanted if wanted is not None else range(1, doc.page_count + 1):
            if not 1 <= number <= doc.page_count:
                yield failed(f"no such page (the PDF has {doc.page_count})", number)
                continue
            pix, error, warnings = _render(doc, number, dpi)
            if error is not None:
                yield failed(f"cannot render page: {error}", number)
                continue
            if warnings:  # e.g. a damaged stream MuPDF rendered around: worth a look
                logger.warning("%s: page %d: MuPDF: %s", name, number, warnings)
            rows = np.frombuffer(pix.samples, np.uint8).reshape(pix.height, pix.stride)
            yield Page(name, number, rows[:, : pix.width].copy(), float(dpi))
    finally:
        _close_pdf(doc)


def _render(doc, number: int, dpi: int):  # -> (Pixmap | None, error | None, warnings)
    """Render one page under the MuPDF lock (the lock is never held across a yield)."""
    import pymupdf

    with _mupdf_lock:
        pymupdf.TOOLS.reset_mupdf_warnings()
        try:
            pix = doc[number - 1].get_pixmap(dpi=dpi, colorspace=pymupdf.csGRAY, alpha=False)
        # One broken page must not stop the document; its cause is kept as the error.
        except Exception as exc:  # noqa: BLE001 - MuPDF raises assorted types
            detail = str(exc) or pymupdf.TOOLS.mupdf_warnings() or type(exc).__name__
            return None, detail, ""
        return pix, None, pymupdf.TOOLS.mupdf_warnings()


def _image_pages(
    data: bytes, *, wanted: list[int] | None, failed: Callable[..., Page], name: str
) -> Iterator[Page]:
    import cv2

    detail = ""
    try:
        with _opencv_silenced():
            ok, images = cv2.imdecodemulti(
                np.frombuffer(data, np.uint8), cv2.IMREAD_ANYDEPTH | cv2.IMREAD_ANYCOLOR
            )
    except cv2.error as exc:
        ok, images, detail = False, [], f": {str(exc).strip().splitlines()[-1]}"
    if not ok or not images:
        if wanted is None or 1 in wanted:
            yield failed(f"cannot decode image{detail}")
        return
    resolutions = image_resolutions(data)
    for number in wanted if wanted is not None else range(1, len(images) + 1):
        if not 1 <= number <= len(images):
            yield failed(f"no such page (the image has {len(images)})", number)
            continue
        res = resolutions[number - 1] if number <= len(resolutions) else None
        image, dpi = _to_gray_square(images[number - 1], res)
        yield Page(name, number, image, dpi)


_silence_lock = threading.Lock()
#: PyMuPDF is not thread-safe (its documentation says so) and its warnings buffer is
#: global: every MuPDF call goes through this lock, so one Reader can serve threads.
_mupdf_lock = threading.RLock()
_silence_depth = 0
_saved_level = 0


@contextmanager
def _opencv_silenced() -> Iterator[None]:
    """Keep OpenCV's decoder complaints off stderr: a corrupt image becomes an error page.

    OpenCV's log level is process-wide, so concurrent decodes share one silenced
    period and the caller's level comes back when the last one ends.
    """
    from cv2.utils import logging as cv_logging

    global _silence_depth, _saved_level
    with _silence_lock:
        if _silence_depth == 0:
            _saved_level = cv_logging.getLogLevel()
            cv_logging.setLogLevel(cv_logging.LOG_LEVEL_SILENT)
        _silence_depth += 1
    try:
        yield
    finally:
        with _silence_lock:
            _silence_depth -= 1
            if _silence_depth == 0:
                cv_logging.setLogLevel(_saved_level)


def _to_gray_square(image: np.ndarray, res: tuple[float, float] | None) -> tuple[np.ndarray, float]:
    """8-bit gray with square pixels, and its dpi (the file's, else the default)."""
    import cv2

    if image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.dtype == np.uint16:
        image = (image.astype(np.float32) / 257.0 + 0.5).astype(np.uint8)
    elif image.dtype != np.uint8:
        scale = 255.0 if float(np.nanmax(image)) <= 1.0 else 1.0
        image = np.clip(np.nan_to_num(image) * scale, 0, 255).astype(np.uint8)
    if res is None or not 100 <= res[0] <= 2400:
        return np.ascontiguousarray(image), DEFAULT_IMAGE_DPI
    xres, yres = res
    if yres > 0 and abs(yres / xres - 1) > 0.01:
        # e.g. fax "fine" 204x196 or "normal" 204x98: resample rows to square pixels
        height = max(1, round(image.shape[0] * xres / yres))
        image = cv2.resize(image, (image.shape[1], height), interpolation=cv2.INTER_LINEAR)
    return np.ascontiguousarray(image), float(xres)
