"""The reading pipeline: pages -> grid -> cells -> classifier -> assembly -> class list.

Only this module knows the whole chain. Rendering, grid finding and cell cleaning run
per page (optionally in worker processes); the cells of many pages then go to ONNX
Runtime in one call, and the class list, when given, is matched over all pages at once.
"""

from __future__ import annotations

import functools
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from .assemble import assemble
from .cells import Cells, clean_cells
from .classifier import READING_SHIFTS, ContextClassifier, DigitClassifier, PairClassifier
from .classlist import Student, load_classlist, match
from .config import ReaderConfig
from .grid import IDGrid, find_grid_candidates, upright
from .pages import Page, count_pages, expand_inputs, iter_pages
from .results import PageImages, PageResult, ScanResult

logger = logging.getLogger(__name__)

Source = str | os.PathLike | bytes
Inputs = Source | Iterable[str | os.PathLike]
Progress = Callable[[int, int], None]

#: Height in pixels of the grid crop kept for the review report.
_CROP_HEIGHT = 96
#: Reading flags that a confident class-list match resolves. Structural problems
#: (inner_blank, unexpected_length) stay flagged: the page itself looks wrong.
_SETTLED_BY_MATCH = frozenset({"low_confidence", "ambiguous_digit"})
#: Pages a worker process handles per task: large enough to amortise the hand-off.
_CHUNK_PAGES = 4


@dataclass(frozen=True)
class _PageCells:
    """One page after the per-page stages, before classification."""

    source: str
    number: int
    dpi: float
    error: str | None = None
    grid: IDGrid | None = None
    cells: Cells | None = None
    crop: np.ndarray | None = None


def _grid_crop(image: np.ndarray, grid: IDGrid) -> np.ndarray:
    """A small gray picture of the ID grid (upright page), for the report."""
    pts = grid.cells.reshape(-1, 2)
    h, w = image.shape
    pad = float(np.median(np.linalg.norm(grid.cells[:, 2] - grid.cells[:, 0], axis=1))) * 0.3
    x0, y0 = np.maximum(pts.min(axis=0) - pad, 0).astype(int)
    x1, y1 = np.minimum(pts.max(axis=0) + pad, (w, h)).astype(int)
    crop = image[y0:y1, x0:x1]
    scale = _CROP_HEIGHT / max(crop.shape[0], 1)
    size = (max(int(round(crop.shape[1] * scale)), 1), _CROP_HEIGHT)
    return cv2.resize(crop, size, interpolation=cv2.INTER_AREA)


def _extract(page: Page, config: ReaderConfig) -> _PageCells:
    """Grid finding and cell cleaning for one rendered page; never raises."""
    base = _PageCells(page.source, page.number, page.dpi, error=page.error)
    if page.image is None:
        return base
    try:
        candidates = find_grid_candidates(page.image, id_length=config.id_length)
        grid = candidates[0] if candidates else None
        cells = crop = None
        image = page.image
        if grid is not None:
            image = upright(page.image, grid.rotation)
            cells = clean_cells(image, grid)
            if config.keep_images:
                crop = _grid_crop(image, grid)
        if config.debug_dir is not None:
            from .debug import write_page_debug

            config.debug_dir.mkdir(parents=True, exist_ok=True)
            stem = f"{Path(page.source).stem}_p{page.number:04d}"
            write_page_debug(config.debug_dir, stem, image, candidates, grid, cells)
        return replace(base, grid=grid, cells=cells, crop=crop)
    except Exception as exc:  # a bug on one page must not stop the batch; it is reported
        logger.exception("%s: page %d failed", page.source, page.number)
        return replace(
            base, error=f"{page.source}: page {page.number}: {type(exc).__name__}: {exc}"
        )


def _extract_chunk(source: Source, pages: Sequence[int], config: ReaderConfig) -> list[_PageCells]:
    """Worker-process task: render and extract some pages of one source."""
    return [_extract(page, config) for page in iter_pages(source, dpi=config.dpi, pages=pages)]


def _sources(inputs: Inputs) -> list[Source]:
    if isinstance(inputs, bytes):
        return [inputs]
    return list(expand_inputs(inputs))


class Reader:
    """Reads student IDs from scanned exam pages; owns one ONNX Runtime session.

    A Reader is safe to share between threads: :meth:`read` keeps no state between
    calls, and ONNX Runtime sessions are thread-safe for inference.

    Parameters
    ----------
    config : ReaderConfig, optional
        Options; keyword ``options`` override its fields.

    Examples
    --------
    >>> reader = Reader(id_length=8)                          # doctest: +SKIP
    >>> result = reader.read("exams.pdf")                     # doctest: +SKIP
    >>> result.results[0].student_id                          # doctest: +SKIP
    '12345678'
    """

    def __init__(self, config: ReaderConfig | None = None, **options: object) -> None:
        config = config or ReaderConfig()
        self.config = replace(config, **options) if options else config
        # every model reads each view with its one-pixel shifts (READING_SHIFTS)
        self.classifier = DigitClassifier(self.config.model_path, shifts=READING_SHIFTS)
        self.pairs = PairClassifier(shifts=READING_SHIFTS)
        self.context = ContextClassifier(shifts=READING_SHIFTS)

    def with_options(self, **options: object) -> Reader:
        """A Reader with other options that shares this one's model session.

        Examples
        --------
        >>> strict = Reader().with_options(confidence_threshold=0.99)  # doctest: +SKIP
        """
        config = replace(self.config, **options)
        if config.model_path != self.config.model_path:
            return Reader(config)
        other = object.__new__(Reader)
        other.config, other.classifier = config, self.classifier
        other.pairs, other.context = self.pairs, self.context
        return other

    def read(
        self,
        inputs: Inputs,
        *,
        classlist: str | os.PathLike | Sequence[Student] | None = None,
        confirmed: dict[int, str] | None = None,
        progress: Progress | None = None,
    ) -> ScanResult:
        """Read every page of ``inputs``; one result per page, in input order.

        Parameters
        ----------
        inputs : path, bytes or iterable of paths
            PDFs, images (PNG, JPEG, TIFF incl. multi-page) or directories of them.
        classlist : path or sequence of Student, optional
            Students to match pages to, one-to-one.
        confirmed : dict, optional
            ``{page index (0-based, over all inputs): student id}`` already confirmed by
            a person; honoured and excluded from matching.
        progress : callable, optional
            Called as ``progress(done_pages, total_pages)`` while pages complete.

        Returns
        -------
        ScanResult
        """
        start = time.perf_counter()
        students = (
            load_classlist(classlist) if isinstance(classlist, (str, os.PathLike)) else classlist
        )
        sources = _sources(inputs)
        counts = [count_pages(s) for s in sources]
        total = sum(counts)
        results: list[PageResult] = []
        page_probs: list[np.ndarray | None] = []
        for batch in _batched(self._extract_all(sources, counts), self.config.batch_pages):
            for result, probs in self._classify(batch):
                results.append(result)
                page_probs.append(probs)
                if progress is not None:
                    progress(len(results), max(total, len(results)))
        unmatched: tuple[tuple[str, str], ...] = ()
        if students is not None:
            results, unmatched = self._match(results, page_probs, students, confirmed)
        return ScanResult(
            results=tuple(results),
            unmatched_students=unmatched,
            seconds=time.perf_counter() - start,
            model_version=self.model_version,
        )

    @property
    def model_version(self) -> str:
        """The models' versions, the digit model's first: ``"1.3.0+pairs.2.0.0+context.1.0.0"``."""
        return (
            f"{self.classifier.info.version}+pairs.{self.pairs.info.version}"
            f"+context.{self.context.info.version}"
        )

    def _extract_all(self, sources: list[Source], counts: list[int]) -> Iterator[_PageCells]:
        """Per-page stages over every page, in order; ``counts`` are the sources' pages."""
        config = self.config
        if config.workers == 1:
            for source in sources:
                for page in iter_pages(source, dpi=config.dpi):
                    yield _extract(page, config)
            return
        tasks = [
            (source, range(first, min(first + _CHUNK_PAGES, count + 1)))
            for source, count in zip(sources, counts, strict=True)
            for first in range(1, count + 1, _CHUNK_PAGES)
        ]
        # spawn, not fork: the parent may hold ONNX Runtime and server threads.
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(config.workers, mp_context=context) as pool:
            futures = [pool.submit(_extract_chunk, *task, config) for task in tasks]
            for future in futures:
                yield from future.result()

    def _classify(self, batch: list[_PageCells]) -> Iterator[tuple[PageResult, np.ndarray | None]]:
        """Classify the cells of several pages in one model call, then assemble each."""
        with_cells = [p.cells for p in batch if p.cells is not None]
        probs = pair_probs = context_probs = None
        if with_cells:
            probs = self.classifier.predict(np.concatenate([c.inputs for c in with_cells]))
            pair_probs = self.pairs.predict(np.concatenate([c.pair_inputs for c in with_cells]))
            context_probs = self.context.predict(
                np.concatenate([c.context_inputs for c in with_cells])
            )
        offset = pairs = contexts = 0
        for page in batch:
            if page.error is not None:
                yield PageResult.failed(page.source, page.number, page.error), None
                continue
            if page.grid is None or page.cells is None:
                yield PageResult(page.source, page.number, reasons=("no_id_grid",)), None
                continue
            n, k = len(page.cells.inputs), len(page.cells.pair_inputs)
            c = len(page.cells.context_inputs)
            page_probs, cells = page.cells.resolve(
                probs[offset : offset + n],
                pair_probs[pairs : pairs + k],
                context_probs[contexts : contexts + c],
            )
            offset, pairs, contexts = offset + n, pairs + k, contexts + c
            yield self._page_result(replace(page, cells=cells), page_probs), page_probs

    def _page_result(self, page: _PageCells, probs: np.ndarray) -> PageResult:
        config = self.config
        reading = assemble(
            probs,
            id_length=config.id_length,
            confidence_threshold=config.confidence_threshold,
            ambiguity_margin=config.ambiguity_margin,
            id_pattern=config.id_pattern,
            check_digit=config.check_digit,
        )
        points_per_pixel = 72.0 / page.dpi
        box = tuple(float(v) * points_per_pixel for v in page.grid.box)
        images = None
        if config.keep_images and page.crop is not None:
            images = PageImages(grid=page.crop, cells=page.cells.images)
        return PageResult(
            source=page.source,
            page=page.number,
            student_id=reading.student_id,
            confidence=reading.confidence,
            flagged=reading.flagged,
            reasons=reading.reasons,
            digits=reading.digits,
            box=box,
            rotation=page.grid.rotation,
            images=images,
        )

    def _match(
        self,
        results: list[PageResult],
        page_probs: list[np.ndarray | None],
        students: Sequence[Student],
        confirmed: dict[int, str] | None,
    ) -> tuple[list[PageResult], tuple[tuple[str, str], ...]]:
        assignment = match(
            page_probs,
            students,
            confirmed=confirmed,
            confidence_threshold=self.config.confidence_threshold,
            off_list_prior=self.config.off_list_prior,
        )
        matched = []
        for result, found, extra in zip(
            results, assignment.matches, assignment.reasons, strict=True
        ):
            reasons = result.reasons
            if found is not None and not extra:
                # A confident, unique match settles which student wrote the page, so the
                # reading's own uncertainty no longer needs a person.
                reasons = tuple(r for r in reasons if r not in _SETTLED_BY_MATCH)
            reasons += tuple(r for r in extra if r not in reasons)
            matched.append(replace(result, match=found, reasons=reasons, flagged=bool(reasons)))
        return matched, tuple((s.id, s.name) for s in assignment.unmatched)


def _batched(items: Iterable[_PageCells], size: int) -> Iterator[list[_PageCells]]:
    batch: list[_PageCells] = []
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


_default_lock = threading.Lock()


@functools.lru_cache(maxsize=4)
def _cached_reader(config: ReaderConfig) -> Reader:
    return Reader(config)


def read_ids(
    inputs: Inputs,
    *,
    classlist: str | os.PathLike | Sequence[Student] | None = None,
    progress: Progress | None = None,
    **options: object,
) -> ScanResult:
    """Read the student IDs of scanned exam pages in one call.

    Creates (once, then reuses) a :class:`Reader` for the given options.

    Parameters
    ----------
    inputs : path, bytes or iterable of paths
        PDFs, images or directories.
    classlist : path or sequence of Student, optional
        Class list to match pages to.
    progress : callable, optional
        ``progress(done_pages, total_pages)``.
    **options
        Fields of :class:`~idreader.config.ReaderConfig` (``id_length=8``, ``dpi=300``...).

    Returns
    -------
    ScanResult

    Examples
    --------
    >>> result = read_ids("examples/demo_exams.pdf", id_length=8)  # doctest: +SKIP
    >>> result.summary["pages"]                                     # doctest: +SKIP
    24
    """
    config = ReaderConfig(**options)  # type: ignore[arg-type]
    with _default_lock:
        reader = _cached_reader(config)
    return reader.read(inputs, classlist=classlist, progress=progress)
