"""HTTP service (the ``serve`` extra): scan uploads, a job API and a small web page.

Endpoints (JSON errors are ``{"error": {"code", "message"}}``):

``POST /v1/scan``           multipart upload -> the result JSON (DESIGN.md contract)
``POST /v1/jobs``           same upload -> 202 ``{"id", "status", ...}``
``GET /v1/jobs/{id}``       status, progress and, when done, the results
``GET /v1/jobs/{id}/report`` the HTML review report of a finished job
``GET /v1/model``           model version and metadata
``GET /healthz``            liveness
``GET /``                   web page; ``/docs`` OpenAPI

Only this module (and ``server_*``) imports FastAPI; ``import idreader`` never does.
docs/integration-guide.md describes the limits.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

try:
    from fastapi import FastAPI, Request
    from fastapi.exceptions import RequestValidationError
    from fastapi.responses import HTMLResponse, JSONResponse, Response
    from starlette.concurrency import run_in_threadpool
    from starlette.exceptions import HTTPException
except ImportError as exc:  # pragma: no cover - depends on the installed extras
    raise ImportError(
        "the idreader service needs the 'serve' extra: pip install 'idreader[serve]'",
        name=exc.name,  # the CLI names the missing package from this
    ) from exc

from . import __version__
from .classlist import Student
from .config import ReaderConfig
from .report import render_html
from .server_jobs import Job
from .server_limits import ServiceError, ServiceLimits
from .server_page import APP_JS, INDEX_HTML, PAGE_CSP, REPORT_CSP
from .server_scan import ScanService, load_students
from .server_upload import Upload, receive_upload

T = TypeVar("T")
logger = logging.getLogger(__name__)

__all__ = ["SERVICE_CONFIG", "ServiceError", "ServiceLimits", "create_app", "serve"]

#: The service's default options. Progress, the time limit and shutdown act between
#: classified batches, so a smaller batch than the library's keeps them prompt, at no
#: measurable cost in speed (docs/integration-guide.md).
SERVICE_CONFIG = ReaderConfig(batch_pages=8)

_UPLOAD_SCHEMA: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file"],
                    "properties": {
                        "file": {
                            "type": "array",
                            "items": {"type": "string", "format": "binary"},
                            "description": "PDFs or images (PNG, JPEG, TIFF, BMP); repeatable",
                        },
                        "classlist": {
                            "type": "string",
                            "format": "binary",
                            "description": "class list CSV: column id, optional name",
                        },
                        "id_length": {"type": "string", "description": "digits, or 'auto'"},
                        "dpi": {"type": "integer", "description": "render resolution"},
                        "confidence_threshold": {"type": "number"},
                    },
                }
            }
        },
    }
}


def _error_response(
    status: int, code: str, message: str, headers: dict[str, str] | None = None
) -> Response:
    body = {"error": {"code": code, "message": message}}
    return JSONResponse(body, status_code=status, headers=headers)


async def _receive(
    request: Request, service: ScanService
) -> tuple[Upload, ReaderConfig, tuple[Student, ...] | None]:
    """Upload, options and class list of a request; 4xx for anything wrong with them."""
    upload = await receive_upload(
        request.headers.get("content-type", ""),
        request.headers.get("content-length"),
        request.stream(),
        max_bytes=service.limits.max_upload_bytes,
    )
    try:
        config = service.options(upload.options)
        students = await run_in_threadpool(load_students, upload.classlist)
    except BaseException:
        upload.remove()
        raise
    return upload, config, students


def create_app(
    config: ReaderConfig | None = None, *, limits: ServiceLimits | None = None
) -> FastAPI:
    """Build the idreader web application.

    Parameters
    ----------
    config : ReaderConfig, optional
        Base reading options (clients may change ``id_length``, ``dpi`` and
        ``confidence_threshold`` per request); default :data:`SERVICE_CONFIG`.
    limits : ServiceLimits, optional
        Upload size, page count, time and concurrency limits.

    Returns
    -------
    fastapi.FastAPI
        The model is loaded when the app starts (its lifespan), not here.

    Examples
    --------
    >>> import uvicorn                                          # doctest: +SKIP
    >>> app = create_app(limits=ServiceLimits(max_pages=100))   # doctest: +SKIP
    >>> uvicorn.run(app, host="127.0.0.1", port=8000)          # doctest: +SKIP
    """
    service = ScanService(config or SERVICE_CONFIG, limits or ServiceLimits())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Load the model before the first request rather than during it.
        await run_in_threadpool(service.reader, service.config)
        yield
        await run_in_threadpool(service.close)

    app = FastAPI(
        title="idreader",
        version=__version__,
        summary="Read handwritten student numbers from scanned exam pages.",
        lifespan=lifespan,
    )
    app.state.service = service

    @app.exception_handler(ServiceError)
    async def service_error(request: Request, exc: ServiceError) -> Response:
        return _error_response(exc.status, exc.code, exc.message, exc.headers)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return _error_response(exc.status_code, code, str(exc.detail))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return _error_response(422, "bad_request", str(exc.errors()))

    @app.exception_handler(Exception)
    async def internal_error(request: Request, exc: Exception) -> Response:
        logger.error("%s %s failed", request.method, request.url.path, exc_info=exc)
        return _error_response(500, "internal", f"{type(exc).__name__}: {exc}")

    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    async def index() -> Response:
        return HTMLResponse(INDEX_HTML, headers={"Content-Security-Policy": PAGE_CSP})

    @app.get("/app.js", include_in_schema=False)
    async def app_js() -> Response:
        return Response(APP_JS, media_type="text/javascript")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/v1/model")
    async def model() -> dict[str, Any]:
        """The digit classifier: version, classes, temperature and ONNX metadata; and
        the pair and the context models' versions and temperatures."""
        info, pairs, context = (
            service.model_info,
            service.pair_model_info,
            service.context_model_info,
        )
        return {
            "version": info.version,
            "classes": list(info.classes),
            "temperature": info.temperature,
            "metadata": dict(info.metadata),
            "pair_model": {"version": pairs.version, "temperature": pairs.temperature},
            "context_model": {"version": context.version, "temperature": context.temperature},
        }

    async def _accept(request: Request, start: Callable[..., T]) -> T:
        """Receive the upload and hand it to ``start``, which then owns its files."""
        upload, config, students = await _receive(request, service)
        try:
            return start(upload, config, students)
        except BaseException:
            upload.remove()
            raise

    @app.post("/v1/scan", openapi_extra=_UPLOAD_SCHEMA)
    async def scan(request: Request) -> JSONResponse:
        """Read the uploaded scan now and return the result JSON (DESIGN.md contract)."""
        future = await _accept(request, service.scan)
        # shield: a client that hangs up must not cancel a queued scan, whose own
        # clean-up (files, its place) runs only when it runs.
        result = await asyncio.shield(asyncio.wrap_future(future))
        return JSONResponse(result.to_dict())

    @app.post("/v1/jobs", status_code=202, openapi_extra=_UPLOAD_SCHEMA)
    async def create_job(request: Request) -> JSONResponse:
        """Queue the uploaded scan as a job; poll ``GET /v1/jobs/{id}``."""
        job = await _accept(request, service.start_job)
        return JSONResponse(
            job.to_dict(), status_code=202, headers={"Location": f"/v1/jobs/{job.id}"}
        )

    def _job(job_id: str) -> Job:
        job = service.jobs.get(job_id)
        if job is None:
            raise ServiceError(404, "not_found", "no such job (unknown or expired)")
        return job

    @app.get("/v1/jobs/{job_id}")
    async def get_job(job_id: str) -> dict[str, Any]:
        """Status (queued/running/done/failed), progress and, once done, the results."""
        return _job(job_id).to_dict()

    @app.get("/v1/jobs/{job_id}/report", response_class=HTMLResponse)
    async def job_report(job_id: str) -> Response:
        """The HTML review report of a finished job."""
        job = _job(job_id)
        if job.result is None:
            raise ServiceError(409, "not_ready", f"the job is {job.status}; no report")
        html = await run_in_threadpool(render_html, job.result, title="idreader review report")
        return HTMLResponse(html, headers={"Content-Security-Policy": REPORT_CSP})

    return app


def serve(
    host: str = "127.0.0.1",
    port: int = 8000,
    *,
    config: ReaderConfig | None = None,
    limits: ServiceLimits | None = None,
) -> None:
    """Run the service with uvicorn until interrupted (``idreader serve``).

    Parameters
    ----------
    host : str
        Interface to bind; loopback by default. Put a reverse proxy with TLS and
        authentication in front before binding anything else.
    port : int
        TCP port.
    config, limits
        As for :func:`create_app`.

    Examples
    --------
    >>> serve(port=8765)                                        # doctest: +SKIP
    """
    import uvicorn

    uvicorn.run(create_app(config, limits=limits), host=host, port=port, log_level="info")
