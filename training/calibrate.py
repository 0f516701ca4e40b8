"""Temperature scaling (Guo et al., 2017) and expected calibration error.

The temperature is fitted on the validation split only; it is stored in the ONNX
metadata and applied by :class:`idreader.classifier.DigitClassifier` at run time.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """Row-wise ``softmax(logits / temperature)`` of ``(n, k)`` logits."""
    z = logits / temperature
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, targets: np.ndarray, *, max_iter: int = 200) -> float:
    """The temperature ``T > 0`` minimising NLL of ``softmax(logits / T)``.

    Parameters
    ----------
    logits : ndarray
        float ``(n, k)`` validation logits.
    targets : ndarray
        float ``(n, k)`` soft targets (one-hot rows for hard labels).

    Examples
    --------
    >>> rng = np.random.default_rng(0)
    >>> y = rng.integers(0, 3, 500)
    >>> logits = 5.0 * np.eye(3)[y] + rng.normal(0, 2, (500, 3))
    >>> t1 = fit_temperature(logits, np.eye(3)[y])
    >>> round(fit_temperature(4 * logits, np.eye(3)[y]) / t1, 2)  # 4x too sharp -> 4x T
    4.0
    """
    z = torch.from_numpy(np.asarray(logits, np.float64))
    t = torch.from_numpy(np.asarray(targets, np.float64))
    log_t = torch.zeros(1, dtype=torch.float64, requires_grad=True)  # T = exp(log_t) > 0
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=max_iter, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = -(t * F.log_softmax(z / log_t.exp(), dim=1)).sum(dim=1).mean()
        loss.backward()
        return loss

    opt.step(closure)
    return float(log_t.detach().exp())


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, *, bins: int = 15) -> float:
    """ECE: bin top-1 confidences into ``bins`` equal-width bins, average |acc - conf|
    weighted by the bin's share of examples.

    Examples
    --------
    >>> expected_calibration_error(np.array([[0.9, 0.1], [0.9, 0.1]]), np.array([0, 1]))
    0.4
    """
    conf = probs.max(axis=1)
    correct = probs.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(conf, edges[1:-1], right=True), 0, bins - 1)
    ece = 0.0
    for b in range(bins):
        in_bin = which == b
        if in_bin.any():
            ece += in_bin.mean() * abs(correct[in_bin].mean() - conf[in_bin].mean())
    return round(float(ece), 10)
