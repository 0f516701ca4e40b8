"""Debug pictures of one page: where the grid search looked and what the model will see.

``<stem>_overlay.png`` shows the page (upright when a grid was chosen) with every grid
candidate as a thin orange outline and its score, the chosen grid's cells as thick
green quads numbered left to right, and the rotation and skew in the corner.
``<stem>_cells.png`` shows the cleaned 28x28 cells side by side, enlarged, with each
cell's ink fraction under it. Two digits that touch across a wall show the cut at the
wall; the model also reads the other cuts (:class:`idreader.cells.Alternatives`), and
the review report shows the one it found likeliest.
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np

from .cells import Cells
from .grid import IDGrid, from_upright, to_upright

logger = logging.getLogger(__name__)

_ORANGE, _GREEN, _RED = (0, 140, 255), (0, 170, 0), (0, 0, 220)
#: Enlargement of the 28x28 cells in the cell strip.
CELL_ZOOM = 4


def _candidate_quads(candidate: IDGrid, frame: int, page_shape: tuple[int, int]) -> np.ndarray:
    """A candidate's cells in the frame of the page turned by ``frame`` degrees."""
    original = from_upright(candidate.cells.astype(np.float64), candidate.rotation, page_shape)
    return to_upright(original, frame, page_shape)


def _overlay(image: np.ndarray, candidates: list[IDGrid], chosen: IDGrid | None) -> np.ndarray:
    gray = image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    canvas = cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR)
    frame = chosen.rotation if chosen is not None else 0
    h, w = gray.shape
    page_shape = (w, h) if frame in (90, 270) else (h, w)
    thick = max(1, round(max(h, w) / 800))
    font = max(0.4, max(h, w) / 2500)
    for cand in candidates:
        quads = _candidate_quads(cand, frame, page_shape)
        pts = np.round(quads).astype(np.int32)
        cv2.polylines(canvas, list(pts), True, _ORANGE, thick, cv2.LINE_AA)
        x, y = pts[0, 0]
        cv2.putText(
            canvas, f"{cand.score:.1f}", (int(x), int(y) - 4 * thick),
            cv2.FONT_HERSHEY_SIMPLEX, font, _ORANGE, thick, cv2.LINE_AA,
        )  # fmt: skip
    if chosen is None:
        label = "no ID grid"
    else:
        pts = np.round(chosen.cells).astype(np.int32)
        cv2.polylines(canvas, list(pts), True, _GREEN, 3 * thick, cv2.LINE_AA)
        for i, quad in enumerate(pts):
            x, y = quad[3]
            cv2.putText(
                canvas, str(i + 1), (int(x), int(y) + int(30 * font)),
                cv2.FONT_HERSHEY_SIMPLEX, font, _GREEN, thick, cv2.LINE_AA,
            )  # fmt: skip
        label = (
            f"{chosen.n_cells} cells  rotation {chosen.rotation}  "
            f"skew {chosen.skew:.1f}  score {chosen.score:.1f}"
        )
    cv2.putText(
        canvas, label, (10, int(40 * font) + 10),
        cv2.FONT_HERSHEY_SIMPLEX, font * 1.5, _RED, 2 * thick, cv2.LINE_AA,
    )  # fmt: skip
    return canvas


def _strip(cells: Cells) -> np.ndarray:
    side = 28 * CELL_ZOOM
    tiles = []
    for image, ink in zip(cells.images, cells.ink, strict=True):
        big = cv2.resize(image, (side, side), interpolation=cv2.INTER_NEAREST)
        tile = np.full((side + 24, side), 40, np.uint8)
        tile[:side] = np.clip(big * 255.0, 0, 255).astype(np.uint8)
        cv2.putText(
            tile, f"{ink:.3f}", (4, side + 18),
            cv2.FONT_HERSHEY_SIMPLEX, 0.5, 255, 1, cv2.LINE_AA,
        )  # fmt: skip
        tiles.append(np.pad(tile, ((0, 0), (0, 4)), constant_values=128))
    return np.hstack(tiles) if tiles else np.zeros((side + 24, side), np.uint8)


def write_page_debug(
    directory: Path,
    stem: str,
    image: np.ndarray,
    candidates: list[IDGrid],
    chosen: IDGrid | None,
    cells: Cells | None,
) -> list[Path]:
    """Write the overlay and cell-strip pictures of one page.

    Parameters
    ----------
    directory : Path
        Output folder (created if missing).
    stem : str
        File name prefix, e.g. ``"exam_p0001"``.
    image : np.ndarray
        uint8 (H, W) page: upright (``upright(page, chosen.rotation)``) when a grid
        was chosen, else as rendered; not modified.
    candidates : list of IDGrid
        Every grid candidate of the page (drawn thin, with scores).
    chosen : IDGrid or None
        The grid used for reading (drawn thick, cells numbered).
    cells : Cells or None
        The cleaned cells; without them no cell strip is written.

    Returns
    -------
    list of Path
        The files written: the overlay, then the cell strip if any.

    Examples
    --------
    >>> import tempfile
    >>> out = write_page_debug(Path(tempfile.mkdtemp()), "p1",
    ...                        np.full((100, 80), 255, np.uint8), [], None, None)
    >>> [p.name for p in out]
    ['p1_overlay.png']
    """
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    written = [directory / f"{stem}_overlay.png"]
    cv2.imwrite(str(written[0]), _overlay(np.asarray(image), candidates, chosen))
    if cells is not None:
        written.append(directory / f"{stem}_cells.png")
        cv2.imwrite(str(written[1]), _strip(cells))
    logger.debug("wrote %s", ", ".join(p.name for p in written))
    return written
