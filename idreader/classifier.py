"""Digit/blank classifiers: one ONNX Runtime session over each shipped CNN.

The digit model (``idreader/models/digits.onnx``) takes cleaned cells float32
``(N, 1, 28, 28)`` in [0, 1] (white ink on black, as :func:`idreader.cells.clean_cells`
makes them) and returns logits ``(N, 11)``; class 10 means "blank box". The pair model
(``pairs.onnx``, :class:`PairClassifier`) reads two boxes whose digits touch across
their wall at once, and the context model (``context.onnx``,
:class:`ContextClassifier`) one box read with a line given back, as scanned. The
temperature fitted on validation data is stored in each model's metadata and applied
here, so ``predict`` returns calibrated probabilities.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

import numpy as np

from .errors import ModelError

log = logging.getLogger(__name__)

#: Number of output classes: digits 0-9 and blank.
NUM_CLASSES = 11
#: Output index of the blank class.
BLANK = 10
#: Largest number of cells sent to ONNX Runtime in one call.
CHUNK = 4096
#: Metadata keys the model must carry.
REQUIRED_METADATA = ("classes", "input_normalisation", "temperature", "version", "training_data")
#: Each input read once, as given: the model alone, as its card measures it.
NO_SHIFT = ((0, 0),)
#: The shifts (rows, columns) of every input whose readings the reader averages: the
#: input as given and moved one pixel each way. The models were trained on inputs
#: shifted by up to two pixels, so each is a fair look at the box; their logits are
#: averaged (a geometric mean of their probabilities) before the calibrated softmax,
#: which reads fewer boxes wrong than one look, for about four times the models' time
#: (docs/accuracy.md, docs/robustness.md and docs/performance.md measure both).
READING_SHIFTS = ((0, 0), (1, 0), (-1, 0), (0, 1), (0, -1))


@dataclass(frozen=True)
class ModelInfo:
    """What the model says about itself (its ONNX ``metadata_props``).

    Attributes
    ----------
    version : str
        Model version, reported in every scan summary.
    classes : tuple of str
        Class names in output order: ``"0"``..``"9"``, ``"blank"``.
    temperature : float
        Calibration temperature applied to the logits before the softmax.
    metadata : dict
        All metadata key/value pairs, as strings.
    """

    version: str
    classes: tuple[str, ...]
    temperature: float
    metadata: dict[str, str] = field(default_factory=dict, compare=False)


def default_model_path(name: str = "digits.onnx") -> Path:
    """Path of a model shipped inside the package: the digit model, ``"pairs.onnx"`` or
    ``"context.onnx"``.

    Examples
    --------
    >>> default_model_path().name
    'digits.onnx'
    """
    return Path(str(resources.files("idreader") / "models" / name))


def _model_info(metadata: dict[str, str], path: Path) -> ModelInfo:
    missing = [k for k in REQUIRED_METADATA if k not in metadata]
    if missing:
        raise ModelError(f"model {path} lacks metadata {', '.join(missing)}")
    try:
        classes = tuple(json.loads(metadata["classes"]))
        temperature = float(metadata["temperature"])
    except (ValueError, TypeError) as exc:
        raise ModelError(f"model {path} has unreadable metadata: {exc}") from exc
    if len(classes) != NUM_CLASSES or classes[BLANK] != "blank":
        raise ModelError(f"model {path} has classes {classes}, expected 0-9 and 'blank'")
    if not np.isfinite(temperature) or temperature <= 0:
        raise ModelError(f"model {path} has invalid temperature {metadata['temperature']!r}")
    return ModelInfo(
        version=metadata["version"], classes=classes, temperature=temperature, metadata=metadata
    )


class _Engine:
    """One ONNX Runtime session over a model mapping ``(N, *shape)`` to logits.

    ``shape`` is one example's input, channels first: ``predict`` takes ``(n, *shape)``,
    or ``(n, *shape[1:])`` for a model of one channel, and adds the channel. The session
    is created once and only read afterwards, so one instance can be shared by threads;
    its input and output names and shapes and the model's metadata are read once here.
    """

    def __init__(
        self,
        path: Path,
        threads: int | None,
        shape: tuple[int, ...],
        name: str,
        shifts: Sequence[tuple[int, int]],
    ) -> None:
        import onnxruntime as ort

        if not path.is_file():
            raise ModelError(f"model file not found: {path}")
        if threads is not None and threads < 1:
            raise ModelError(f"threads must be >= 1, got {threads}")
        self.shifts = tuple((int(dy), int(dx)) for dy, dx in shifts)
        if not self.shifts or any(max(abs(dy), abs(dx)) > 4 for dy, dx in self.shifts):
            raise ModelError(f"shifts must be one or more moves of at most 4 pixels, got {shifts}")
        options = ort.SessionOptions()
        if threads is not None:
            options.intra_op_num_threads = threads
            options.inter_op_num_threads = 1
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # ORT raises its own untyped errors for bad files
            raise ModelError(f"cannot load model {path}: {exc}") from exc
        inputs, outputs = self._session.get_inputs(), self._session.get_outputs()
        if (
            len(inputs) != 1
            or len(outputs) != 1
            or list(inputs[0].shape[1:]) != list(shape)
            or not all(isinstance(d, int) for d in outputs[0].shape[1:])
        ):
            raise ModelError(
                f"model {path} must map one (N, {', '.join(map(str, shape))}) input to one "
                f"fixed-size output, has inputs {[(i.name, i.shape) for i in inputs]} and "
                f"outputs {[(o.name, o.shape) for o in outputs]}"
            )
        self._input_name = inputs[0].name
        self._output_name = outputs[0].name
        self._output_shape = tuple(outputs[0].shape[1:])
        self._input_shape = shape
        # what predict takes of one example: the channel axis only for several
        self._example_shape = shape[1:] if shape[0] == 1 else shape
        self._name = name
        self.path = path
        self.info = _model_info(self._session.get_modelmeta().custom_metadata_map, path)
        log.debug("loaded model %s version %s", path, self.info.version)

    def _probabilities(self, x: np.ndarray) -> np.ndarray:
        """Calibrated probabilities (last axis) of ``x`` float ``(n, *shape)``."""
        x = np.asarray(x)
        if x.ndim != len(self._example_shape) + 1 or x.shape[1:] != self._example_shape:
            want = ", ".join(map(str, self._example_shape))
            raise ModelError(f"{self._name} must have shape (n, {want}), got {x.shape}")
        x = x.astype(np.float32, copy=False)
        if not np.isfinite(x).all():
            raise ModelError(f"{self._name} contain NaN or infinite values")
        out = np.empty((len(x), *self._output_shape), np.float32)
        step = max(CHUNK // len(self.shifts), 1)
        for start in range(0, len(x), step):
            part = x[start : start + step].reshape(-1, *self._input_shape)
            # every shift of the chunk in one session call
            batch = np.concatenate([_shifted(part, dy, dx) for dy, dx in self.shifts])
            logits = self._session.run([self._output_name], {self._input_name: batch})[0]
            each = logits.reshape(len(self.shifts), len(part), *self._output_shape)
            out[start : start + step] = _softmax(each.mean(axis=0) / self.info.temperature)
        return out


class DigitClassifier(_Engine):
    """Classify cleaned 28x28 cells as a digit 0-9 or blank (class 10).

    Parameters
    ----------
    model_path : path or None
        ONNX model to load; ``None`` loads the shipped model (:func:`default_model_path`).
    threads : int or None
        ONNX Runtime intra-op threads; ``None`` lets ONNX Runtime choose.
    shifts : sequence of (int, int)
        Moves (rows, columns, at most 4 pixels) of each input whose readings ``predict``
        averages: :data:`NO_SHIFT` (the default) reads each input once, as the model
        card measures the model; the reader uses :data:`READING_SHIFTS`.

    Raises
    ------
    ModelError
        When the model is missing, corrupt, or does not match the expected contract.

    Examples
    --------
    >>> clf = DigitClassifier(threads=1)
    >>> clf.predict(np.zeros((3, 28, 28), np.float32)).argmax(axis=1).tolist()
    [10, 10, 10]
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        threads: int | None = None,
        shifts: Sequence[tuple[int, int]] = NO_SHIFT,
    ):
        path = Path(model_path) if model_path is not None else default_model_path()
        super().__init__(path, threads, (1, 28, 28), "cells", shifts)

    def predict(self, cells: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities of cleaned cells.

        Parameters
        ----------
        cells : ndarray
            float32 ``(n, 28, 28)`` in [0, 1], white ink on black (``n`` may be 0).

        Returns
        -------
        ndarray
            float32 ``(n, 11)``: ``softmax(logits / temperature)``; column 10 is blank.

        Raises
        ------
        ModelError
            When ``cells`` does not have shape ``(n, 28, 28)`` or holds NaN/inf.

        Examples
        --------
        >>> probs = DigitClassifier().predict(np.zeros((2, 28, 28), np.float32))
        >>> probs.shape, bool(np.allclose(probs.sum(axis=1), 1.0))
        ((2, 11), True)
        """
        return self._probabilities(cells)


class PairClassifier(_Engine):
    """Read two boxes whose digits run together across their wall, both at once.

    The pair model takes views float32 ``(N, 2, 28, 48)``
    (:data:`idreader.cell_split.PAIR_SHAPE`: the two boxes' cleaned ink, and the two
    boxes as scanned) and returns logits ``(N, 2, 11)``: the left box's classes, then
    the right one's (10 is blank). :meth:`idreader.cells.Cells.resolve` weighs its
    reading with the digit model's reading of each cut of the pair.

    Parameters
    ----------
    model_path : path or None
        ONNX model to load; ``None`` loads the shipped ``pairs.onnx``.
    threads : int or None
        ONNX Runtime intra-op threads; ``None`` lets ONNX Runtime choose.
    shifts : sequence of (int, int)
        Moves (rows, columns, at most 4 pixels) of each input whose readings ``predict``
        averages: :data:`NO_SHIFT` (the default) reads each input once, as the model
        card measures the model; the reader uses :data:`READING_SHIFTS`.

    Raises
    ------
    ModelError
        When the model is missing, corrupt, or does not match the expected contract.

    Examples
    --------
    >>> pairs = PairClassifier(threads=1)
    >>> pairs.predict(np.zeros((1, 2, 28, 48), np.float32)).shape
    (1, 2, 11)
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        threads: int | None = None,
        shifts: Sequence[tuple[int, int]] = NO_SHIFT,
    ):
        path = Path(model_path) if model_path is not None else default_model_path("pairs.onnx")
        super().__init__(path, threads, (2, 28, 48), "pair views", shifts)

    def predict(self, views: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities of both boxes of each pair view.

        Parameters
        ----------
        views : ndarray
            float32 ``(n, 2, 28, 48)`` in [0, 1] (``n`` may be 0).

        Returns
        -------
        ndarray
            float32 ``(n, 2, 11)``: the left box's, then the right box's probabilities.

        Raises
        ------
        ModelError
            When ``views`` does not have shape ``(n, 2, 28, 48)`` or holds NaN/inf.
        """
        return self._probabilities(views)


class ContextClassifier(_Engine):
    """Read one box as scanned, its walls and the ink across them, when a line may hide
    a stroke.

    The context model takes :func:`idreader.cell_split.context_view` images float32
    ``(N, 1, 48, 48)`` and returns logits ``(N, 11)`` (10 is blank).
    :meth:`idreader.cells.Cells.resolve` mixes its reading with that of the box's
    cleaned readings, with and without the line given back.

    Parameters
    ----------
    model_path : path or None
        ONNX model to load; ``None`` loads the shipped ``context.onnx``.
    threads : int or None
        ONNX Runtime intra-op threads; ``None`` lets ONNX Runtime choose.
    shifts : sequence of (int, int)
        Moves (rows, columns, at most 4 pixels) of each input whose readings ``predict``
        averages: :data:`NO_SHIFT` (the default) reads each input once, as the model
        card measures the model; the reader uses :data:`READING_SHIFTS`.

    Raises
    ------
    ModelError
        When the model is missing, corrupt, or does not match the expected contract.

    Examples
    --------
    >>> context = ContextClassifier(threads=1)
    >>> context.predict(np.zeros((2, 48, 48), np.float32)).shape
    (2, 11)
    """

    def __init__(
        self,
        model_path: str | os.PathLike | None = None,
        *,
        threads: int | None = None,
        shifts: Sequence[tuple[int, int]] = NO_SHIFT,
    ):
        path = Path(model_path) if model_path is not None else default_model_path("context.onnx")
        super().__init__(path, threads, (1, 48, 48), "context views", shifts)

    def predict(self, views: np.ndarray) -> np.ndarray:
        """Calibrated class probabilities of boxes seen as scanned.

        Parameters
        ----------
        views : ndarray
            float32 ``(n, 48, 48)`` in [0, 1] (``n`` may be 0).

        Returns
        -------
        ndarray
            float32 ``(n, 11)``.

        Raises
        ------
        ModelError
            When ``views`` does not have shape ``(n, 48, 48)`` or holds NaN/inf.
        """
        return self._probabilities(views)


def _shifted(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """``x`` (n, c, h, w) moved ``dy`` rows down and ``dx`` columns right, zeros let in."""
    if dy == dx == 0:
        return x
    out = np.zeros_like(x)
    h, w = x.shape[-2:]
    out[..., max(dy, 0) : h + min(dy, 0), max(dx, 0) : w + min(dx, 0)] = x[
        ..., max(-dy, 0) : h + min(-dy, 0), max(-dx, 0) : w + min(-dx, 0)
    ]
    return out


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)
