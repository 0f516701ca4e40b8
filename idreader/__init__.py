"""idreader: read handwritten student numbers from scanned exam pages.

>>> from idreader import read_ids                      # doctest: +SKIP
>>> result = read_ids("exams.pdf", id_length=8)         # doctest: +SKIP
>>> [(r.page, r.student_id, r.flagged) for r in result.results]  # doctest: +SKIP
"""

from __future__ import annotations

from .config import ReaderConfig
from .errors import ConfigError, IDReaderError, InputError, ModelError
from .reader import Reader, read_ids
from .results import DigitResult, Match, PageResult, ScanResult

__version__ = "0.1.0"

__all__ = [
    "ConfigError",
    "DigitResult",
    "IDReaderError",
    "InputError",
    "Match",
    "ModelError",
    "PageResult",
    "Reader",
    "ReaderConfig",
    "ScanResult",
    "__version__",
    "read_ids",
]
