"""The one configuration object of a :class:`~idreader.reader.Reader`."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError

#: Default probability below which a page's ID (and, with a class list, its match) is
#: flagged. Chosen from measured data (docs/accuracy.md) as the lowest threshold that
#: keeps IDs that are wrong and unflagged at 0.2 % or fewer without a class list; with a
#: class list a confident unique match clears most of those flags.
DEFAULT_CONFIDENCE_THRESHOLD = 0.99

#: Default prior probability that a page's writer is not on the class list. Chosen from
#: measured data (docs/accuracy.md, model 1.3.0): against 0.01 it matched as many pages
#: right when 5 % of writers were missing, each with a listed look-alike one digit away,
#: and more when every writer was listed (99.80 % against 99.60 %), with fewer flags and
#: no wrong match left unflagged. Its worst wrong match (a missing writer sent to the
#: look-alike) had posterior 0.78, far under the 0.99 threshold; at 0.0001 it was 0.97.
DEFAULT_OFF_LIST_PRIOR = 0.001


@dataclass(frozen=True)
class ReaderConfig:
    """Options of a reading run; every ``idreader scan`` flag maps to one field.

    Parameters
    ----------
    dpi : int
        Resolution at which PDF pages are rendered (72..1200).
    id_length : int or None
        Number of digits of a student ID; ``None`` accepts any length (auto).
    confidence_threshold : float
        IDs whose calibrated probability is below this are flagged ``low_confidence``.
    ambiguity_margin : float
        A digit whose top two probabilities are closer than this is ``ambiguous_digit``.
    id_pattern : str or None
        Optional regular expression the whole ID must match (``re.fullmatch``).
    check_digit : callable or None
        Optional ``check_digit(id) -> bool``; IDs for which it is False are invalid. A
        module-level function, so that worker processes can receive it.
    off_list_prior : float
        Prior probability that a page's writer is not on the class list (0 < p < 1).
    workers : int
        Processes used to render pages and find grids (1 = in-process).
    batch_pages : int
        Pages whose cells are sent to the model in one ONNX Runtime call.
    keep_images : bool
        Keep the grid crop and cleaned cells of every page (for the HTML report).
    debug_dir : Path or None
        Write per-page overlay and cell-strip PNGs here.
    model_path : Path or None
        Use this ONNX model instead of the shipped one.

    Examples
    --------
    >>> ReaderConfig(id_length=8).id_length
    8
    """

    dpi: int = 200
    id_length: int | None = None
    confidence_threshold: float = DEFAULT_CONFIDENCE_THRESHOLD
    ambiguity_margin: float = 0.2
    id_pattern: str | None = None
    check_digit: Callable[[str], bool] | None = None
    off_list_prior: float = DEFAULT_OFF_LIST_PRIOR
    workers: int = 1
    batch_pages: int = 32
    keep_images: bool = False
    debug_dir: Path | None = None
    model_path: Path | None = None

    def __post_init__(self) -> None:
        if not 72 <= self.dpi <= 1200:
            raise ConfigError(f"dpi must be between 72 and 1200, got {self.dpi}")
        if self.id_length is not None and not 1 <= self.id_length <= 32:
            raise ConfigError(f"id_length must be between 1 and 32, got {self.id_length}")
        if not 0.0 <= self.confidence_threshold <= 1.0:
            raise ConfigError(
                f"confidence_threshold must be in [0, 1], got {self.confidence_threshold}"
            )
        if not 0.0 <= self.ambiguity_margin <= 1.0:
            raise ConfigError(f"ambiguity_margin must be in [0, 1], got {self.ambiguity_margin}")
        if not 0.0 < self.off_list_prior < 1.0:
            raise ConfigError(f"off_list_prior must be in (0, 1), got {self.off_list_prior}")
        if self.check_digit is not None and not callable(self.check_digit):
            raise ConfigError("check_digit must be a function id -> bool")
        if self.workers < 1:
            raise ConfigError(f"workers must be >= 1, got {self.workers}")
        if self.batch_pages < 1:
            raise ConfigError(f"batch_pages must be >= 1, got {self.batch_pages}")
        if self.id_pattern is not None:
            try:
                re.compile(self.id_pattern)
            except re.error as exc:
                raise ConfigError(f"id_pattern is not a valid regular expression: {exc}") from exc
        for name in ("debug_dir", "model_path"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, Path):
                object.__setattr__(self, name, Path(value))
