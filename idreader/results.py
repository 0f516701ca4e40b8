"""Result objects of a reading run; each exports itself per the JSON/CSV contract."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

#: CSV columns, in order (DESIGN.md contract).
CSV_COLUMNS = (
    "source",
    "page",
    "student_id",
    "confidence",
    "flagged",
    "reasons",
    "match_id",
    "match_name",
    "error",
)


@dataclass(frozen=True)
class DigitResult:
    """One box of the ID grid as read.

    ``value`` is ``"0"``..``"9"`` or ``""`` for a blank box; ``alternatives`` lists
    ``(value, probability)`` pairs, most probable first, the top one included.
    """

    value: str
    confidence: float
    alternatives: tuple[tuple[str, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "confidence": round(float(self.confidence), 6),
            "alternatives": [[v, round(float(p), 6)] for v, p in self.alternatives],
        }


@dataclass(frozen=True)
class Match:
    """The class-list student a page was assigned to.

    ``confidence`` is the posterior probability of this student among the listed
    candidates; ``margin`` its gap to the runner-up, who is named in ``runner_up``.
    """

    id: str
    name: str
    confidence: float
    margin: float = 1.0
    runner_up: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "confidence": round(float(self.confidence), 6)}


@dataclass(frozen=True)
class PageImages:
    """Pictures of one page kept for the review report (not part of the JSON).

    ``grid`` is a uint8 gray crop of the ID grid; ``cells`` the cleaned model inputs,
    float32 ``(n, 28, 28)`` in [0, 1].
    """

    grid: np.ndarray
    cells: np.ndarray


@dataclass(frozen=True)
class PageResult:
    """Everything idreader says about one input page (DESIGN.md "Result (JSON)")."""

    source: str
    page: int
    student_id: str | None = None
    confidence: float = 0.0
    flagged: bool = True
    reasons: tuple[str, ...] = ()
    digits: tuple[DigitResult, ...] = ()
    box: tuple[float, float, float, float] | None = None
    rotation: int = 0
    match: Match | None = None
    error: str | None = None
    images: PageImages | None = field(default=None, repr=False, compare=False)

    @classmethod
    def failed(cls, source: str, page: int, error: str) -> PageResult:
        """A page that could not be read: flagged with ``read_error``.

        Examples
        --------
        >>> PageResult.failed("a.pdf", 3, "page 3 of a.pdf is corrupt").reasons
        ('read_error',)
        """
        return cls(source=source, page=page, flagged=True, reasons=("read_error",), error=error)

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "page": self.page,
            "student_id": self.student_id,
            "confidence": round(float(self.confidence), 6),
            "flagged": self.flagged,
            "reasons": list(self.reasons),
            "digits": [d.to_dict() for d in self.digits],
            "box": None if self.box is None else [round(float(v), 2) for v in self.box],
            "rotation": self.rotation,
            "match": None if self.match is None else self.match.to_dict(),
            "error": self.error,
        }

    def to_row(self) -> dict[str, Any]:
        """The page as one CSV row (columns :data:`CSV_COLUMNS`)."""
        return {
            "source": self.source,
            "page": self.page,
            "student_id": self.student_id or "",
            "confidence": f"{self.confidence:.4f}",
            "flagged": str(self.flagged).lower(),
            "reasons": ";".join(self.reasons),
            "match_id": self.match.id if self.match else "",
            "match_name": self.match.name if self.match else "",
            "error": self.error or "",
        }


@dataclass(frozen=True)
class ScanResult:
    """The pages of a run, in input order, plus what the class list left unmatched."""

    results: tuple[PageResult, ...]
    unmatched_students: tuple[tuple[str, str], ...] = ()
    seconds: float = 0.0
    model_version: str = ""

    @property
    def summary(self) -> dict[str, Any]:
        pages = len(self.results)
        errors = sum(r.error is not None for r in self.results)
        flagged = sum(r.flagged for r in self.results)
        read = sum(r.student_id is not None for r in self.results)
        out: dict[str, Any] = {
            "pages": pages,
            "read": read,
            "flagged": flagged,
            "errors": errors,
            "seconds": round(self.seconds, 3),
            "model_version": self.model_version,
        }
        if any(r.match is not None for r in self.results) or self.unmatched_students:
            out["matched"] = sum(r.match is not None for r in self.results)
            out["unmatched_students"] = [
                {"id": sid, "name": name} for sid, name in self.unmatched_students
            ]
        return out

    @property
    def exit_code(self) -> int:
        """0 when every page has a result, 1 when some page could not be read."""
        return 1 if any(r.error is not None for r in self.results) else 0

    def to_dict(self) -> dict[str, Any]:
        return {"results": [r.to_dict() for r in self.results], "summary": self.summary}

    def to_json(self, *, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=CSV_COLUMNS, lineterminator="\n")
        writer.writeheader()
        for r in self.results:
            writer.writerow(r.to_row())
        return buf.getvalue()
