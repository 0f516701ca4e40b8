"""An idreader task for a queue worker (Celery, RQ, Huey, Dramatiq, ...).

Each worker process creates ONE :class:`idreader.Reader` the first time it runs a task
and reuses it afterwards: loading the ONNX model costs far more than reading a page, so
it must not happen per task. The task returns plain JSON (the DESIGN.md result
contract, docs/result.schema.json), which every queue can serialise.

Wire it into your queue with its decorator, for example::

    # Celery                               # RQ: queue.enqueue(read_scan, path)
    @app.task(name="exams.read_scan")      # Huey
    def read_scan_task(pdf_path, classlist_path=None):
        return worker_task.read_scan(pdf_path, classlist_path)

Run this file directly to try it: ``python examples/worker_task.py exams.pdf [classlist.csv]``.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from typing import Any

from idreader import Reader, ReaderConfig

_reader: Reader | None = None
_reader_lock = threading.Lock()


def get_reader() -> Reader:
    """This process's Reader, created on first use.

    The lock matters for threaded workers (Celery ``--pool threads``): a Reader is
    safe to share between threads, but two threads must not both build one. Forking
    workers (Celery prefork, RQ) each build their own after the fork, which is what
    ONNX Runtime needs: a session must not be created before ``fork()``.
    """
    global _reader
    with _reader_lock:
        if _reader is None:
            # Settings from the environment, so deployments need no code change.
            id_length = os.environ.get("IDREADER_ID_LENGTH")
            _reader = Reader(ReaderConfig(id_length=int(id_length) if id_length else None))
        return _reader


def read_scan(pdf_path: str, classlist_path: str | None = None) -> dict[str, Any]:
    """Read the student IDs of one scan; return the result as JSON-ready data.

    Parameters
    ----------
    pdf_path : str
        A PDF or image on storage the worker can read.
    classlist_path : str, optional
        Class-list CSV (column ``id``, optional ``name``) to match pages to.

    Returns
    -------
    dict
        ``{"results": [...], "summary": {...}}``. Unreadable pages are results with
        an ``error`` and the ``read_error`` reason; they do not raise.

    Raises
    ------
    idreader.InputError
        The class list cannot be read (the message names the row). Do not retry it.

    Examples
    --------
    >>> out = read_scan("exams.pdf", "classlist.csv")        # doctest: +SKIP
    >>> [(r["page"], r["student_id"], r["flagged"]) for r in out["results"]][:1]  # doctest: +SKIP
    [(1, '12345678', False)]
    """
    return get_reader().read(pdf_path, classlist=classlist_path).to_dict()


if __name__ == "__main__":
    if len(sys.argv) not in (2, 3):
        raise SystemExit("usage: python examples/worker_task.py SCAN.pdf [CLASSLIST.csv]")
    print(json.dumps(read_scan(*sys.argv[1:]), indent=2))
