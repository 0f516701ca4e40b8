"""Runs scans for the HTTP service: admission, a thread pool sharing Readers, time limits.

Why threads and not processes: the expensive steps (PDF rendering in MuPDF, OpenCV,
ONNX Runtime) run in C, so threads sharing one :class:`~idreader.reader.Reader` keep the
model loaded once and results never cross a process boundary; a busy server holds one
copy of the model whatever ``max_concurrent_scans`` is. docs/integration-guide.md has
the measurements.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import fields, replace
from pathlib import Path

from .classifier import ModelInfo
from .classlist import Student, load_classlist
from .config import ReaderConfig
from .errors import ConfigError, InputError
from .pages import count_pages
from .reader import Reader
from .results import ScanResult
from .server_jobs import Job, JobStore
from .server_limits import ServiceError, ServiceLimits
from .server_upload import Upload

logger = logging.getLogger(__name__)

#: Readers kept for distinct option sets (dpi, id_length, threshold) sent by clients.
_MAX_READERS = 4


def relabel(result: ScanResult, upload: Upload) -> ScanResult:
    """Put the client's (sanitised) file names back in place of the service's own paths.

    Examples
    --------
    >>> relabel(scan, upload).results[0].source                # doctest: +SKIP
    'exams.pdf'
    """
    names = {str(f.path): f.label for f in upload.files}

    def fix(text: str) -> str:
        for path, label in names.items():
            text = text.replace(path, label)
        return text

    pages = tuple(
        replace(
            r,
            source=names.get(r.source, fix(r.source)),
            error=None if r.error is None else fix(r.error),
        )
        for r in result.results
    )
    return replace(result, results=pages)


def load_students(path: Path | None) -> tuple[Student, ...] | None:
    """The uploaded class list, or None; a bad one is a 422 naming the problem."""
    if path is None:
        return None
    try:
        students = load_classlist(path)
    except InputError as exc:
        raise ServiceError(422, "bad_classlist", str(exc).replace(str(path), "classlist")) from exc
    if not students:
        raise ServiceError(422, "bad_classlist", "the class list has no students")
    return students


class ScanService:
    """Admits scans, runs them on a bounded thread pool and keeps the jobs.

    Parameters
    ----------
    config : ReaderConfig
        Base options; clients may change ``id_length``, ``dpi`` (up to
        ``limits.max_dpi``) and ``confidence_threshold`` per request.
    limits : ServiceLimits

    Examples
    --------
    >>> service = ScanService(ReaderConfig(), ServiceLimits())   # doctest: +SKIP
    >>> future = service.scan(upload, service.config, None)     # doctest: +SKIP
    """

    def __init__(self, config: ReaderConfig, limits: ServiceLimits) -> None:
        # The job report shows grid crops, so every scan keeps its pictures.
        self.config = replace(config, keep_images=True)
        self.limits = limits
        self.jobs = JobStore(limits.job_ttl_s)
        self._executor = ThreadPoolExecutor(
            limits.max_concurrent_scans, thread_name_prefix="idreader-scan"
        )
        self._places = threading.BoundedSemaphore(
            limits.max_concurrent_scans + limits.max_queued_jobs
        )
        self._readers: OrderedDict[ReaderConfig, Reader] = OrderedDict()
        self._readers_lock = threading.Lock()
        self._closing = threading.Event()

    def reader(self, config: ReaderConfig) -> Reader:
        """The shared Reader for ``config``; every option set shares one model session."""
        with self._readers_lock:
            reader = self._readers.get(config)
            if reader is None:
                base = self._readers.get(self.config)
                if base is None:
                    base = self._readers[self.config] = Reader(self.config)
                # Other options share the base Reader's model session (no second load).
                options = {f.name: getattr(config, f.name) for f in fields(config)}
                reader = base if config == self.config else base.with_options(**options)
                self._readers[config] = reader
                if len(self._readers) > _MAX_READERS:
                    # The base Reader stays: /v1/model must never wait for a model load.
                    del self._readers[next(k for k in self._readers if k != self.config)]
            self._readers.move_to_end(config)
            return reader

    @property
    def model_info(self) -> ModelInfo:
        return self.reader(self.config).classifier.info

    @property
    def pair_model_info(self) -> ModelInfo:
        return self.reader(self.config).pairs.info

    @property
    def context_model_info(self) -> ModelInfo:
        return self.reader(self.config).context.info

    def options(self, fields: Sequence[tuple[str, str]]) -> ReaderConfig:
        """The request's config: the base one with the client's form options applied."""
        changes: dict[str, object] = {}
        for name, text in fields:
            if text == "":
                continue  # an empty form field keeps the service's default
            if name == "id_length" and text.lower() == "auto":
                changes[name] = None
                continue
            try:
                changes[name] = float(text) if name == "confidence_threshold" else int(text)
            except ValueError:
                raise ServiceError(
                    422, "bad_option", f"{name} must be a number, got {text[:40]!r}"
                ) from None
        try:
            config = replace(self.config, **changes)
        except ConfigError as exc:
            raise ServiceError(422, "bad_option", str(exc)) from exc
        if config.dpi > self.limits.max_dpi:
            raise ServiceError(422, "bad_option", f"dpi may be at most {self.limits.max_dpi}")
        return config

    def scan(
        self, upload: Upload, config: ReaderConfig, students: Sequence[Student] | None
    ) -> Future[ScanResult]:
        """Start a scan now or refuse with 503; on success the scan owns ``upload``."""
        self._admit()
        return self._executor.submit(self._run, upload, config, students, lambda d, t: None)

    def start_job(
        self, upload: Upload, config: ReaderConfig, students: Sequence[Student] | None
    ) -> Job:
        """Queue a scan as a job or refuse with 503; on success the job owns ``upload``."""
        self._admit()
        job = self.jobs.create()

        def progress(done: int, total: int) -> None:
            self.jobs.update(job.id, status="running", done=done, total=total)

        future = self._executor.submit(self._run, upload, config, students, progress)
        future.add_done_callback(lambda f: self._finish_job(job.id, f))
        return job

    def close(self) -> None:
        """Stop: running scans end at their next page, queued ones do not start."""
        self._closing.set()
        self._executor.shutdown(wait=True)

    def _admit(self) -> None:
        if self._closing.is_set() or not self._places.acquire(blocking=False):
            raise ServiceError(
                503,
                "busy",
                f"{self.limits.max_concurrent_scans + self.limits.max_queued_jobs} scans are "
                "already running or queued; try again later",
                headers={"Retry-After": "5"},
            )

    def _run(
        self,
        upload: Upload,
        config: ReaderConfig,
        students: Sequence[Student] | None,
        on_progress: Callable[[int, int], None],
    ) -> ScanResult:
        """The worker-thread side of a scan; always frees its place and its files."""
        try:
            if self._closing.is_set():
                raise ServiceError(503, "shutting_down", "the service is shutting down")
            total = sum(count_pages(f.path) for f in upload.files)
            if total > self.limits.max_pages:
                raise ServiceError(
                    413,
                    "too_many_pages",
                    f"the upload has {total} pages; the limit is {self.limits.max_pages}",
                )
            on_progress(0, total)
            deadline = time.monotonic() + self.limits.timeout_s

            def progress(done: int, total: int) -> None:
                # Raising here is how a scan is stopped between pages.
                if time.monotonic() > deadline:
                    raise ServiceError(
                        504, "timeout", f"the scan took longer than {self.limits.timeout_s:g} s"
                    )
                if self._closing.is_set():
                    raise ServiceError(503, "shutting_down", "the service is shutting down")
                on_progress(done, total)

            reader = self.reader(config)
            paths = [f.path for f in upload.files]
            return relabel(reader.read(paths, classlist=students, progress=progress), upload)
        finally:
            upload.remove()
            self._places.release()

    def _finish_job(self, job_id: str, future: Future[ScanResult]) -> None:
        exc = future.exception()
        if exc is None:
            result = future.result()
            self.jobs.update(job_id, status="done", done=len(result.results), result=result)
        elif isinstance(exc, ServiceError):
            error = {"code": exc.code, "message": exc.message}
            self.jobs.update(job_id, status="failed", error=error)
        else:
            logger.error("job %s failed", job_id, exc_info=exc)
            error = {"code": "internal", "message": f"{type(exc).__name__}: {exc}"}
            self.jobs.update(job_id, status="failed", error=error)
