"""idreader: read handwritten student numbers from scanned exam pages.

>>> from idreader import read_ids                      # doctest: +SKIP
>>> result = read_ids("exams.pdf", id_length=8)         # doctest: +SKIP
>>> [(r.page, r.student_id, r.flagged) for r in result.results]  # doctest: +SKIP
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .config import ReaderConfig
from .errors import ConfigError, IDReaderError, InputError, ModelError

if TYPE_CHECKING:
    from .classlist import Student, load_classlist
    from .reader import Reader, read_ids
    from .results import DigitResult, Match, PageResult, ScanResult

__version__ = "0.1.0"

# The reader pulls in numpy, OpenCV and ONNX Runtime; import it on first use so that
# `import idreader` (e.g. for the CLI's --help or a server's start-up) stays fast.
_LAZY = {
    "Reader": "reader",
    "read_ids": "reader",
    "Student": "classlist",
    "load_classlist": "classlist",
    "DigitResult": "results",
    "Match": "results",
    "PageResult": "results",
    "ScanResult": "results",
}

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
    "Student",
    "__version__",
    "load_classlist",
    "read_ids",
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'idreader' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
