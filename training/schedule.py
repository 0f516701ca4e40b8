"""One-cycle learning rate driven by training progress in steps or in wall-clock time.

On a shared machine the number of steps that fit into the time available is not known
in advance. With a time budget, progress is the larger of "steps done / total steps"
and "seconds spent / budget", so the learning rate still warms up, peaks and anneals
to (almost) zero exactly when training must stop.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field


def one_cycle(progress: float, *, max_lr: float, pct_start: float = 0.2) -> float:
    """Learning rate at ``progress`` in [0, 1]: cosine warm-up from ``max_lr / 25`` to
    ``max_lr`` over ``pct_start``, then cosine annealing to ``max_lr / 25e4``.

    Examples
    --------
    >>> one_cycle(0.2, max_lr=1.0), round(one_cycle(0.0, max_lr=1.0), 3)
    (1.0, 0.04)
    >>> one_cycle(1.0, max_lr=1.0) < 1e-4
    True
    """
    start, final = max_lr / 25, max_lr / 25e4
    p = min(max(progress, 0.0), 1.0)
    if p < pct_start:
        return start + (max_lr - start) * (1 - math.cos(math.pi * p / pct_start)) / 2
    q = (p - pct_start) / (1 - pct_start)
    return final + (max_lr - final) * (1 + math.cos(math.pi * q)) / 2


@dataclass
class Progress:
    """Counts steps and (resumable) seconds; ``fraction`` reaches 1 at the first limit.

    Examples
    --------
    >>> p = Progress(total_steps=4)
    >>> for _ in range(3):
    ...     p.step()
    >>> p.fraction, p.done
    (0.75, False)
    """

    total_steps: int
    budget_s: float | None = None
    steps: int = 0
    seconds_before: float = 0.0
    _t0: float = field(default_factory=time.perf_counter, repr=False)

    @property
    def seconds(self) -> float:
        return self.seconds_before + time.perf_counter() - self._t0

    @property
    def fraction(self) -> float:
        by_steps = self.steps / max(self.total_steps, 1)
        if self.budget_s is None:
            return by_steps
        return max(by_steps, self.seconds / self.budget_s)

    @property
    def done(self) -> bool:
        return self.fraction >= 1.0

    def step(self) -> None:
        self.steps += 1

    def state_dict(self) -> dict[str, float]:
        return {"steps": self.steps, "seconds": self.seconds}

    def load_state_dict(self, state: dict[str, float]) -> None:
        self.steps = int(state["steps"])
        self.seconds_before = float(state["seconds"])
        self._t0 = time.perf_counter()
