"""In-memory store of scan jobs: immutable snapshots swapped under a lock, with a TTL."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Literal

from .results import ScanResult

JobStatus = Literal["queued", "running", "done", "failed"]


@dataclass(frozen=True)
class Job:
    """One job as it stands; the store replaces it whole on every change.

    ``done``/``total`` count pages (``total`` is 0 until the pages are counted);
    ``error`` is ``{"code", "message"}`` when the job failed; ``finished`` is the
    store clock's time at which it reached ``done`` or ``failed``.
    """

    id: str
    status: JobStatus = "queued"
    done: int = 0
    total: int = 0
    result: ScanResult | None = None
    error: dict[str, str] | None = None
    finished: float | None = None

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``GET /v1/jobs/{id}``: results only once the job is done."""
        out: dict[str, Any] = {
            "id": self.id,
            "status": self.status,
            "progress": {"done": self.done, "total": self.total},
        }
        if self.result is not None:
            out.update(self.result.to_dict())
        if self.error is not None:
            out["error"] = self.error
        return out


class JobStore:
    """Jobs by id; finished ones expire ``ttl_s`` seconds after they finish.

    Ids are 128-bit random tokens, so one client cannot guess another's job (the
    results hold student numbers). Expired jobs are dropped lazily on each call.

    Parameters
    ----------
    ttl_s : float
        Lifetime of a finished job.
    clock : callable
        Monotonic seconds; tests may pass a fake one.

    Examples
    --------
    >>> store = JobStore(ttl_s=60)
    >>> job = store.create()
    >>> store.update(job.id, status="running").status
    'running'
    """

    def __init__(self, ttl_s: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl_s = ttl_s
        self._clock = clock
        self._jobs: dict[str, Job] = {}
        self._lock = threading.Lock()

    def create(self) -> Job:
        job = Job(id=secrets.token_urlsafe(16))
        with self._lock:
            self._expire()
            self._jobs[job.id] = job
        return job

    def get(self, job_id: str) -> Job | None:
        with self._lock:
            self._expire()
            return self._jobs.get(job_id)

    def update(self, job_id: str, **changes: Any) -> Job:
        """Replace fields of a job; reaching ``done``/``failed`` starts its TTL."""
        with self._lock:
            job = replace(self._jobs[job_id], **changes)
            if job.status in ("done", "failed") and job.finished is None:
                job = replace(job, finished=self._clock())
            self._jobs[job_id] = job
            return job

    def __len__(self) -> int:
        with self._lock:
            self._expire()
            return len(self._jobs)

    def _expire(self) -> None:
        cutoff = self._clock() - self._ttl_s
        expired = [
            k for k, j in self._jobs.items() if j.finished is not None and j.finished < cutoff
        ]
        for key in expired:
            del self._jobs[key]
