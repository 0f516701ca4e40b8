"""Limits of the HTTP service and the error every refused request turns into."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ConfigError


@dataclass(frozen=True)
class ServiceLimits:
    """What one idreader service accepts and how much work it takes on at once.

    Parameters
    ----------
    max_upload_bytes : int
        Largest request body accepted (files, class list and form fields together).
        Enforced while the body streams to disk; a larger ``Content-Length`` is
        refused before anything is read.
    max_pages : int
        Most pages one request (or job) may contain, over all its files.
    timeout_s : float
        Time one scan may run. A synchronous scan past it answers 504; a job past it
        fails with code ``timeout``. The scan stops at its next page either way.
    max_concurrent_scans : int
        Scans that run at the same time (threads sharing one Reader).
    max_queued_jobs : int
        Scans admitted beyond the running ones, waiting for a thread. When all
        ``max_concurrent_scans + max_queued_jobs`` places are taken a request gets
        503 at once: there is no unbounded queue.
    job_ttl_s : float
        Seconds a finished job (and its results) is kept before it expires.
    max_dpi : int
        Highest render resolution a client may ask for (memory grows with dpi²).

    Examples
    --------
    >>> ServiceLimits(max_pages=50).max_pages
    50
    """

    max_upload_bytes: int = 64 * 1024 * 1024
    max_pages: int = 500
    timeout_s: float = 300.0
    max_concurrent_scans: int = 2
    max_queued_jobs: int = 8
    job_ttl_s: float = 3600.0
    max_dpi: int = 400

    def __post_init__(self) -> None:
        for name in ("max_upload_bytes", "max_pages", "max_concurrent_scans", "max_dpi"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.max_queued_jobs < 0:
            raise ConfigError(f"max_queued_jobs must be >= 0, got {self.max_queued_jobs}")
        for name in ("timeout_s", "job_ttl_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be > 0, got {getattr(self, name)}")


class ServiceError(Exception):
    """A request the service refuses; rendered as ``{"error": {"code", "message"}}``.

    Parameters
    ----------
    status : int
        HTTP status of the response.
    code : str
        Machine-readable code, e.g. ``too_large``, ``unsupported_type``, ``busy``.
    message : str
        Human-readable explanation.
    headers : dict, optional
        Extra response headers, e.g. ``Retry-After`` on 503.

    Examples
    --------
    >>> ServiceError(413, "too_large", "upload exceeds 10 bytes").to_dict()["error"]["code"]
    'too_large'
    """

    def __init__(
        self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}

    def to_dict(self) -> dict[str, dict[str, str]]:
        return {"error": {"code": self.code, "message": self.message}}
