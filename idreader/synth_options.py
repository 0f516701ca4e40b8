"""Options of :mod:`idreader.synth`: what a synthetic page's scan and ID grid look like."""

from __future__ import annotations

from dataclasses import dataclass

LAYOUT_KINDS = ("joined", "gapped", "table", "two_grids")
#: Walls a digit pushed across one may cross (:attr:`Distortion.cross_sides`).
CROSS_SIDES = ("any", "sideways", "out_of_row")


@dataclass(frozen=True)
class Distortion:
    """Scan-like distortions; every field's default is "off" (a clean scan).

    Parameters
    ----------
    skew : float
        Degrees the page content is rotated, counter-clockwise as seen on screen; the
        ID row's angle in image coordinates (y down, as ``IDGrid.skew``) is ``-skew``.
    rotation : int
        0/90/180/270: the page was scanned turned by this much, clockwise.
    blur : float
        Gaussian sigma in pixels at the page dpi.
    noise : float
        Standard deviation of zero-mean noise on 0..255.
    jpeg_quality : int or None
        Save and reload as JPEG at this quality.
    perspective : float
        Max corner displacement as a fraction of the page size (e.g. 0.01).
    binarize : bool
        Fax-like 1-bit scan (threshold at mid-gray).
    line_gray : int
        Gray level of the ruled lines (0 black .. 200 faint).
    broken_lines : float
        Fraction of the ruled lines' length erased in small gaps.
    specks : int
        Random dark specks near the grid.
    stray_marks : int
        Short random pen strokes near (not inside) the grid.
    ink_gray : int
        Gray level of the handwriting (0 black; pencil ~ 90).
    background : int
        Paper gray level.
    stroke_scale : float
        Thicken (>1) or thin (<1) the handwriting strokes.
    digit_jitter : float
        Random offset and scale of a digit inside its box (fraction of the box).
    cross_border : float
        Probability that a digit is pushed toward a box wall, so that it crosses it.
    cross_push : tuple of float
        How far such a digit is pushed from where it was written: uniform in this range,
        as a fraction of the box (0.3-0.45 pushes a third of a digit or more past the
        wall, and two neighbours pushed toward each other write over each other).
    cross_sides : str
        Which walls such a digit is pushed toward: ``"any"`` of the four,
        ``"sideways"`` (left or right, into the next box) or ``"out_of_row"`` (up or
        down); the draw is the same, so the pages differ only in where digits went.
    """

    skew: float = 0.0
    rotation: int = 0
    blur: float = 0.0
    noise: float = 0.0
    jpeg_quality: int | None = None
    perspective: float = 0.0
    binarize: bool = False
    line_gray: int = 0
    broken_lines: float = 0.0
    specks: int = 0
    stray_marks: int = 0
    ink_gray: int = 0
    background: int = 255
    stroke_scale: float = 1.0
    digit_jitter: float = 0.08
    cross_border: float = 0.0
    cross_push: tuple[float, float] = (0.3, 0.45)
    cross_sides: str = "any"

    def __post_init__(self) -> None:
        if self.rotation not in (0, 90, 180, 270):
            raise ValueError(f"rotation must be 0, 90, 180 or 270, not {self.rotation}")
        if self.jpeg_quality is not None and not 1 <= self.jpeg_quality <= 100:
            raise ValueError(f"jpeg_quality must be 1..100, not {self.jpeg_quality}")
        for name in ("line_gray", "ink_gray", "background"):
            if not 0 <= getattr(self, name) <= 255:
                raise ValueError(f"{name} must be 0..255, not {getattr(self, name)}")
        if self.cross_sides not in CROSS_SIDES:
            raise ValueError(f"cross_sides must be one of {CROSS_SIDES}, not {self.cross_sides!r}")
        low, high = self.cross_push
        if not 0 <= low <= high <= 1:
            raise ValueError(f"cross_push must be a range within 0..1, not {self.cross_push}")


@dataclass(frozen=True)
class Layout:
    """Where and how the ID grid is drawn.

    Parameters
    ----------
    kind : str
        ``"joined"`` (a row of joined boxes), ``"gapped"`` (boxes with gaps),
        ``"table"`` (the ID row inside a table: a "Student number" label cell, a
        "Section" row of 3 cells, Name and Signature rows) or ``"two_grids"`` (the
        ID row plus a 3-box "Version" grid below it).
    n_boxes : int
        Number of ID boxes (4..16).
    box_mm : float
        Box side (distance between the centres of two walls), in millimetres.
    line_mm : float
        Ruled line width, in millimetres.
    position : (float, float)
        The ID grid's top-left corner as a fraction of the page width and height.
    marks_table : bool
        Also draw the examiner's marks table near the bottom of the page.
    """

    kind: str = "table"
    n_boxes: int = 8
    box_mm: float = 8.0
    line_mm: float = 0.35
    position: tuple[float, float] = (0.25, 0.22)
    marks_table: bool = True

    def __post_init__(self) -> None:
        if self.kind not in LAYOUT_KINDS:
            raise ValueError(f"kind must be one of {LAYOUT_KINDS}, not {self.kind!r}")
        if not 4 <= self.n_boxes <= 16:
            raise ValueError(f"n_boxes must be 4..16, not {self.n_boxes}")
        if not 0 < self.line_mm < self.box_mm / 4:
            raise ValueError("line_mm must be positive and well below box_mm")
