"""pages: PDFs and images in, gray pages out; bad input becomes error pages, never raises."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pymupdf
import pytest

from idreader.pages import Page, count_pages, expand_inputs, iter_pages

A4 = (595.0, 842.0)  # points


def _pdf_bytes(n_pages: int = 3) -> bytes:
    """A4 pages, each with a black rectangle 1 inch from the top-left and its number."""
    doc = pymupdf.open()
    for i in range(n_pages):
        page = doc.new_page(width=A4[0], height=A4[1])
        page.draw_rect(pymupdf.Rect(72, 72, 144, 108), color=(0, 0, 0), fill=(0, 0, 0))
        page.insert_text((72, 200), f"page {i + 1}", fontsize=20)
    return doc.tobytes()


@pytest.fixture()
def pdf_path(tmp_path: Path) -> Path:
    path = tmp_path / "exam.pdf"
    path.write_bytes(_pdf_bytes())
    return path


def _gradient(h: int = 60, w: int = 80) -> np.ndarray:
    return np.tile(np.linspace(0, 255, w).astype(np.uint8), (h, 1))


@pytest.mark.parametrize(("dpi", "shape"), [(100, (1169, 826)), (200, (2339, 1653))])
def test_pdf_renders_gray_at_requested_dpi(pdf_path: Path, dpi: int, shape: tuple) -> None:
    pages = list(iter_pages(pdf_path, dpi=dpi))
    assert [p.number for p in pages] == [1, 2, 3]
    for page in pages:
        assert page.error is None and page.dpi == dpi and page.source == str(pdf_path)
        assert page.image.dtype == np.uint8 and page.image.ndim == 2
        # PyMuPDF rounds the page size; allow one pixel either way
        assert abs(page.image.shape[0] - shape[0]) <= 1
        assert abs(page.image.shape[1] - shape[1]) <= 1
        # the rectangle spans 1..2 inch horizontally, 1..1.5 inch vertically
        inside = page.image[int(1.1 * dpi) : int(1.4 * dpi), int(1.1 * dpi) : int(1.9 * dpi)]
        assert inside.max() < 30
        assert page.image[int(0.5 * dpi), int(0.5 * dpi)] == 255


def test_pages_option_selects_and_orders(pdf_path: Path) -> None:
    pages = list(iter_pages(pdf_path, dpi=50, pages=[3, 1, 7]))
    assert [p.number for p in pages] == [3, 1, 7]
    assert pages[0].image is not None and pages[1].image is not None
    assert pages[2].image is None and "page 7" in pages[2].error and "exam.pdf" in pages[2].error


def test_png_jpeg_bmp(tmp_path: Path) -> None:
    image = _gradient()
    for suffix, tolerance in ((".png", 0), (".bmp", 0), (".jpg", 6)):
        path = tmp_path / f"scan{suffix}"
        cv2.imwrite(str(path), image)
        (page,) = iter_pages(path)
        assert page.error is None and page.dpi == 200.0
        assert page.image.shape == image.shape and page.image.dtype == np.uint8
        assert np.abs(page.image.astype(int) - image).max() <= tolerance


def test_colour_and_16_bit_images_become_8_bit_gray(tmp_path: Path) -> None:
    colour = np.zeros((20, 30, 3), np.uint8)
    colour[..., 2] = 200  # red in BGR
    cv2.imwrite(str(tmp_path / "red.png"), colour)
    (page,) = iter_pages(tmp_path / "red.png")
    assert page.image.shape == (20, 30)
    assert np.all(np.abs(page.image.astype(int) - round(0.299 * 200)) <= 1)

    deep = (_gradient().astype(np.uint16) * 257).astype(np.uint16)
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    (page,) = iter_pages(tmp_path / "deep.png")
    assert page.image.dtype == np.uint8
    np.testing.assert_array_equal(page.image, _gradient())


def test_multi_page_tiff(tmp_path: Path) -> None:
    frames = [_gradient(40, 50), np.full((30, 20), 7, np.uint8), _gradient(10, 10)]
    path = tmp_path / "stack.tiff"
    assert cv2.imwritemulti(str(path), frames)
    pages = list(iter_pages(path))
    assert [p.number for p in pages] == [1, 2, 3]
    for page, frame in zip(pages, frames, strict=True):
        np.testing.assert_array_equal(page.image, frame)
    assert count_pages(path) == 3
    assert [p.number for p in iter_pages(path, pages=[2])] == [2]


@pytest.mark.parametrize(
    ("xdpi", "ydpi", "unit", "dpi", "height"),
    [
        (300, 300, 2, 300.0, 60),  # inch
        (118, 118, 3, 299.72, 60),  # pixels per centimetre
        (204, 98, 2, 204.0, 125),  # fax "normal": rows resampled to square pixels
    ],
)
def test_tiff_resolution_from_file(
    tmp_path: Path, xdpi: int, ydpi: int, unit: int, dpi: float, height: int
) -> None:
    path = tmp_path / "fax.tif"
    params = [cv2.IMWRITE_TIFF_XDPI, xdpi, cv2.IMWRITE_TIFF_YDPI, ydpi]
    cv2.imwrite(str(path), _gradient(60, 80), [*params, cv2.IMWRITE_TIFF_RESUNIT, unit])
    (page,) = iter_pages(path)
    assert page.dpi == pytest.approx(dpi)
    assert page.image.shape == (height, 80)


@pytest.mark.parametrize("fmt", ["png", "jpg"])
def test_png_jpeg_resolution_from_file(fmt: str) -> None:
    pix = pymupdf.Pixmap(pymupdf.csGRAY, pymupdf.IRect(0, 0, 40, 30), False)
    pix.set_dpi(300, 300)
    (page,) = iter_pages(pix.tobytes(fmt))
    assert page.dpi == pytest.approx(300.0)
    assert page.image.shape == (30, 40)


def test_bytes_input_is_sniffed(pdf_path: Path) -> None:
    pages = list(iter_pages(pdf_path.read_bytes(), dpi=50, name="upload.pdf"))
    assert [(p.source, p.number) for p in pages] == [
        ("upload.pdf", 1),
        ("upload.pdf", 2),
        ("upload.pdf", 3),
    ]
    ok, png = cv2.imencode(".png", _gradient())
    (page,) = iter_pages(png.tobytes())
    assert page.source == "<bytes>" and page.error is None
    np.testing.assert_array_equal(page.image, _gradient())
    assert count_pages(pdf_path.read_bytes()) == 3 and count_pages(png.tobytes()) == 1


def test_expand_inputs(tmp_path: Path, pdf_path: Path) -> None:
    cv2.imwrite(str(tmp_path / "b.PNG"), _gradient())
    cv2.imwrite(str(tmp_path / "a.tif"), _gradient())
    (tmp_path / "notes.txt").write_text("not a scan")
    (tmp_path / "sub").mkdir()
    cv2.imwrite(str(tmp_path / "sub" / "c.png"), _gradient())
    missing = tmp_path / "missing.pdf"
    got = expand_inputs([tmp_path, missing, str(pdf_path)])
    assert got == [tmp_path / "a.tif", tmp_path / "b.PNG", pdf_path, missing, pdf_path]
    assert expand_inputs(str(pdf_path)) == [pdf_path]


def _zero_page_pdf() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj<</Type/Catalog/Pages 2 0 R>>endobj\n"
        b"2 0 obj<</Type/Pages/Kids[]/Count 0>>endobj\ntrailer<</Root 1 0 R>>\n%%EOF"
    )


def _encrypted_pdf() -> bytes:
    doc = pymupdf.open(stream=_pdf_bytes(2), filetype="pdf")
    return doc.tobytes(encryption=pymupdf.PDF_ENCRYPT_AES_256, user_pw="u", owner_pw="o")


BAD_INPUTS = {
    "missing.pdf": (None, "cannot read file"),
    "notes.txt": (b"just some notes\n", "not a PDF or a supported image"),
    "garbage.pdf": (
        b"\x00\x01garbage" * 50,
        "cannot open PDF: format error",
    ),
    "garbage.png": (b"\x89PNG\r\n\x1a\n" + b"\x00" * 40, "cannot decode image"),
    "locked.pdf": (_encrypted_pdf(), "encrypted"),
    "empty.pdf": (_zero_page_pdf(), "no pages"),
}


@pytest.mark.parametrize("filename", sorted(BAD_INPUTS))
def test_bad_input_yields_one_error_page(tmp_path: Path, filename: str, capfd) -> None:
    content, message = BAD_INPUTS[filename]
    path = tmp_path / filename
    if content is not None:
        path.write_bytes(content)
    (page,) = iter_pages(path, dpi=50)
    assert page.image is None and page.number == 1
    assert page.error.startswith(f"{path}: page 1: ") and message in page.error
    assert count_pages(path) == 1
    # MuPDF's own chatter must not leak to the terminal; it is in the message instead
    assert capfd.readouterr().err == ""


def test_bad_bytes_name_the_source() -> None:
    (page,) = iter_pages(b"%PDF-1.7 truncated", name="upload.pdf")
    assert page.image is None and page.error.startswith("upload.pdf: page 1: cannot open PDF")


def test_page_that_fails_to_render_does_not_stop_the_others(
    pdf_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    render = pymupdf.Page.get_pixmap

    def broken_second_page(self, *args, **kwargs):
        if self.number == 1:
            raise RuntimeError("code=2: simulated broken content stream")
        return render(self, *args, **kwargs)

    monkeypatch.setattr(pymupdf.Page, "get_pixmap", broken_second_page)
    pages = list(iter_pages(pdf_path, dpi=50))
    assert [p.number for p in pages] == [1, 2, 3]
    assert pages[0].image is not None and pages[2].image is not None
    assert pages[1].image is None
    assert (
        pages[1].error
        == f"{pdf_path}: page 2: cannot render page: code=2: simulated broken content stream"
    )


def test_batch_of_good_and_bad_files_keeps_every_page(tmp_path: Path, pdf_path: Path) -> None:
    (tmp_path / "notes.pdf").write_text("I am not a PDF")
    cv2.imwrite(str(tmp_path / "z.png"), _gradient())
    pages = [p for path in expand_inputs(tmp_path) for p in iter_pages(path, dpi=40)]
    assert [(Path(p.source).name, p.number, p.image is None) for p in pages] == [
        ("exam.pdf", 1, False),
        ("exam.pdf", 2, False),
        ("exam.pdf", 3, False),
        ("notes.pdf", 1, True),
        ("z.png", 1, False),
    ]


def test_page_is_frozen() -> None:
    page = Page("a.pdf", 1, None, 200.0, "a.pdf: page 1: x")
    with pytest.raises(AttributeError):
        page.number = 2  # type: ignore[misc]


def test_type_comes_from_magic_bytes_not_the_name(tmp_path: Path) -> None:
    odd = tmp_path / "scan.dat"
    odd.write_bytes(b"\r\n" + _pdf_bytes(2))  # the PDF spec tolerates junk before %PDF
    assert [p.number for p in iter_pages(odd, dpi=30) if p.image is not None] == [1, 2]
    assert count_pages(odd) == 2
    renamed = tmp_path / "photo.pdf"
    ok, png = cv2.imencode(".png", _gradient())
    renamed.write_bytes(png.tobytes())
    (page,) = iter_pages(renamed)
    np.testing.assert_array_equal(page.image, _gradient())


def test_directory_given_to_iter_pages_is_an_error_page(tmp_path: Path) -> None:
    (page,) = iter_pages(tmp_path)
    assert page.image is None and page.error.startswith(f"{tmp_path}: page 1: cannot read file")


def test_import_is_light() -> None:
    # pages is imported by every worker process: OpenCV and MuPDF load on first use only
    code = "import sys, idreader.pages; print(sorted({'cv2', 'pymupdf'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    )
    assert out.stdout.strip() == "[]"


def test_opencv_log_level_is_restored_after_concurrent_decodes() -> None:
    from concurrent.futures import ThreadPoolExecutor

    from cv2.utils import logging as cv_logging

    before = cv_logging.getLogLevel()
    ok, png = cv2.imencode(".png", _gradient(400, 400))
    inputs = [png.tobytes(), b"\x89PNG\r\n\x1a\n" + b"\x00" * 40] * 8
    with ThreadPoolExecutor(4) as pool:
        pages = [p for chunk in pool.map(lambda d: list(iter_pages(d)), inputs) for p in chunk]
    assert [p.image is None for p in pages] == [False, True] * 8
    assert cv_logging.getLogLevel() == before


def test_threads_rendering_one_pdf_get_the_same_pages(tmp_path: Path) -> None:
    """Regression: PyMuPDF is not thread-safe; a shared Reader renders from many threads."""
    from concurrent.futures import ThreadPoolExecutor

    path = tmp_path / "many.pdf"
    path.write_bytes(_pdf_bytes(6))
    expected = [p.image for p in iter_pages(path, dpi=72)]

    def render(_: int) -> list[np.ndarray]:
        assert count_pages(path) == 6
        return [p.image for p in iter_pages(path, dpi=72)]

    with ThreadPoolExecutor(4) as pool:
        for images in pool.map(render, range(8)):
            assert len(images) == 6
            assert all(np.array_equal(a, b) for a, b in zip(images, expected, strict=True))
