"""DigitClassifier over the shipped ONNX model (no torch needed).

The accuracy check runs the shipped model on the committed MNIST test slice
(tests/data/mnist_test_2000.npz, digits the model never saw) and asserts it reaches the
figure the model card states for that same slice, minus 3 digits in 2,000 (0.15
points): the card figure is measured with ONNX Runtime by training/evaluate.py, so on
the same build it is reproduced exactly; the margin only absorbs a borderline digit
flipping under another CPU's or ONNX Runtime build's float rounding.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

import idreader.classifier as classifier_module
from idreader.classifier import (
    BLANK,
    NO_SHIFT,
    READING_SHIFTS,
    ContextClassifier,
    DigitClassifier,
    ModelInfo,
    PairClassifier,
    default_model_path,
)
from idreader.errors import ModelError

CARD = default_model_path().with_name("digits.json")
SLICE_MARGIN = 3 / 2000


@pytest.fixture(scope="module")
def clf() -> DigitClassifier:
    return DigitClassifier(threads=1)


@pytest.fixture(scope="module")
def averaged() -> DigitClassifier:
    """The model as the reader reads with it: each cell also moved a pixel each way."""
    return DigitClassifier(threads=1, shifts=READING_SHIFTS)


@pytest.fixture(scope="module")
def card() -> dict:
    return json.loads(CARD.read_text())


@pytest.fixture(scope="module")
def cells(mnist: tuple[np.ndarray, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    images, labels = mnist
    return images.astype(np.float32) / 255.0, labels.astype(np.int64)


def test_shipped_model_is_small_single_file() -> None:
    path = default_model_path()
    assert path.name == "digits.onnx"
    assert 10_000 < path.stat().st_size < 2_000_000
    # Loading from bytes fails for a model whose weights live in external-data files.
    session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    assert session.get_modelmeta().custom_metadata_map["classes"]


def test_metadata_matches_contract(clf: DigitClassifier, card: dict) -> None:
    info = clf.info
    assert isinstance(info, ModelInfo)
    assert info.classes == ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "blank")
    assert info.version == card["version"] and info.version
    assert info.temperature == pytest.approx(card["temperature"], rel=1e-9)
    assert 0.2 < info.temperature < 5.0
    for key in ("input_normalisation", "training_data"):
        assert info.metadata[key]
    assert "[0, 1]" in info.metadata["input_normalisation"]


def test_session_io_contract() -> None:
    session = ort.InferenceSession(str(default_model_path()), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.type, inp.shape[1:]) == ("cells", "tensor(float)", [1, 28, 28])
    assert isinstance(inp.shape[0], str)  # dynamic batch
    assert (out.name, out.shape[1]) == ("logits", 11)


@pytest.mark.parametrize("n", [0, 1, 7, 64])
def test_predict_shapes_and_probabilities(clf: DigitClassifier, cells, n: int) -> None:
    probs = clf.predict(cells[0][:n])
    assert probs.shape == (n, 11) and probs.dtype == np.float32
    assert np.all(probs >= 0)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_predict_applies_temperature_to_raw_logits(clf: DigitClassifier, cells) -> None:
    session = ort.InferenceSession(str(default_model_path()), providers=["CPUExecutionProvider"])
    x = cells[0][:50]
    logits = session.run(["logits"], {"cells": x[:, None]})[0] / clf.info.temperature
    expected = np.exp(logits - logits.max(1, keepdims=True))
    expected /= expected.sum(1, keepdims=True)
    np.testing.assert_allclose(clf.predict(x), expected, atol=1e-6)


def test_predict_averages_the_logits_of_the_shifted_cells(
    clf: DigitClassifier, averaged: DigitClassifier, cells
) -> None:
    x = cells[0][:60]
    # each cell moved (dy, dx): a window of the cell framed in a pixel of zeros
    framed = np.pad(x, ((0, 0), (1, 1), (1, 1)))
    each = [clf.predict(framed[:, 1 - dy : 29 - dy, 1 - dx : 29 - dx]) for dy, dx in READING_SHIFTS]
    assert clf.shifts == NO_SHIFT and averaged.shifts == READING_SHIFTS
    # the logits averaged: the normalised geometric mean of the calibrated probabilities
    mean = np.exp(np.mean(np.log(each), axis=0))
    got = averaged.predict(x)
    np.testing.assert_allclose(got, mean / mean.sum(axis=1, keepdims=True), atol=1e-5)
    # the shifted readings differ, so the average is not the one reading
    assert np.abs(got - clf.predict(x)).max() > 1e-3


@pytest.mark.parametrize("shifts", [(), ((0, 5),), ((-6, 0), (0, 0))], ids=str)
def test_bad_shifts_raise_model_error(shifts) -> None:
    with pytest.raises(ModelError, match="shifts"):
        DigitClassifier(threads=1, shifts=shifts)


@pytest.mark.parametrize("reader", ["clf", "averaged"])
def test_predict_chunks_give_same_result(
    reader: str, cells, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    # a chunk holds every shift of its cells: 7 cells a call read once, 7 // 5 = 1 averaged
    model = request.getfixturevalue(reader)
    whole = model.predict(cells[0][:40])
    monkeypatch.setattr(classifier_module, "CHUNK", 7)
    np.testing.assert_allclose(model.predict(cells[0][:40]), whole, atol=1e-6)


def test_predict_does_not_mutate_input(clf: DigitClassifier, cells) -> None:
    x = cells[0][:10].copy()
    clf.predict(x)
    np.testing.assert_array_equal(x, cells[0][:10])


def test_accepts_float64(clf: DigitClassifier, cells) -> None:
    x = cells[0][:5]
    np.testing.assert_allclose(clf.predict(x.astype(np.float64)), clf.predict(x), atol=1e-6)


def test_empty_cells_are_blank(clf: DigitClassifier) -> None:
    probs = clf.predict(np.zeros((4, 28, 28), np.float32))
    assert (probs.argmax(axis=1) == BLANK).all()
    assert probs[:, BLANK].min() > 0.99


@pytest.mark.parametrize(
    "shape", [(28, 28), (3, 28, 27), (3, 1, 28, 28), (3, 32, 32), (0,)], ids=str
)
def test_wrong_shape_raises_model_error(clf: DigitClassifier, shape: tuple[int, ...]) -> None:
    with pytest.raises(ModelError, match="shape"):
        clf.predict(np.zeros(shape, np.float32))


def test_non_finite_input_raises_model_error(clf: DigitClassifier) -> None:
    x = np.zeros((2, 28, 28), np.float32)
    x[1, 3, 3] = np.nan
    with pytest.raises(ModelError, match="NaN"):
        clf.predict(x)


def test_missing_model_raises_model_error(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match="not found"):
        DigitClassifier(tmp_path / "nope.onnx")


def test_corrupt_model_raises_model_error(tmp_path: Path) -> None:
    bad = tmp_path / "digits.onnx"
    bad.write_bytes(default_model_path().read_bytes()[:5000])  # truncated download
    with pytest.raises(ModelError, match="cannot load"):
        DigitClassifier(bad)


def test_bad_thread_count_raises_model_error() -> None:
    with pytest.raises(ModelError, match="threads"):
        DigitClassifier(threads=0)


def test_thread_safe_predictions(clf: DigitClassifier, cells) -> None:
    chunks = [cells[0][i * 100 : (i + 1) * 100] for i in range(8)]
    expected = [clf.predict(c) for c in chunks]
    with ThreadPoolExecutor(max_workers=4) as pool:
        got = list(pool.map(clf.predict, chunks))
    for e, g in zip(expected, got, strict=True):
        np.testing.assert_allclose(g, e, atol=1e-6)


def test_accuracy_on_committed_mnist_slice(
    clf: DigitClassifier, averaged: DigitClassifier, cells, card: dict
) -> None:
    x, labels = cells
    pred = clf.predict(x).argmax(axis=1)
    accuracy = float((pred == labels).mean())
    stated = card["metrics"]["mnist_test_first2000_accuracy"]
    assert accuracy >= stated - SLICE_MARGIN, (accuracy, stated)
    # the reader's average over shifts reads at least as many (model 1.3.0: 99.45 % read
    # once, 99.60 % averaged)
    assert float((averaged.predict(x).argmax(axis=1) == labels).mean()) >= accuracy
    # A written digit read as blank can silently shorten an ID, so it must never be
    # confident: every such reading stays below the default 0.9 confidence threshold
    # (model 1.0.0: 2 of these 2,000, blank probability 0.51 and 0.61; 1.1.0: none). The count bound
    # (0.15 %) is three times the 0.05 % target, for a sample this small.
    called_blank = pred == BLANK
    assert int(called_blank.sum()) <= 3
    assert clf.predict(x[called_blank])[:, BLANK].max(initial=0.0) < 0.9


def test_import_does_not_load_torch() -> None:
    code = "import sys, idreader.classifier; print('torch' in sys.modules)"
    root = Path(__file__).resolve().parents[1]
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=root, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "False"


@dataclass(frozen=True)
class _ViewModel:
    """One of the models that read views of boxes, its input (channels first) and output."""

    name: str
    cls: type
    input: tuple[int, int, int]
    out: tuple[int, ...]

    @property
    def view(self) -> tuple[int, ...]:
        """What ``predict`` takes of one view: no channel axis for a single channel."""
        return self.input[1:] if self.input[0] == 1 else self.input


VIEW_MODELS = (
    _ViewModel("pairs", PairClassifier, (2, 28, 48), (2, 11)),
    _ViewModel("context", ContextClassifier, (1, 48, 48), (11,)),
)


@pytest.fixture(scope="module", params=VIEW_MODELS, ids=lambda m: m.name)
def view_model(request) -> tuple[_ViewModel, object, dict]:
    spec = request.param
    card = json.loads(default_model_path(f"{spec.name}.json").read_text())
    return spec, spec.cls(threads=1), card


def test_view_model_contract(view_model) -> None:
    spec, model, card = view_model
    path = default_model_path(f"{spec.name}.onnx")
    assert model.path == path and 10_000 < path.stat().st_size < 2_000_000
    assert model.info.classes == ("0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "blank")
    assert model.info.version == card["version"]
    assert model.info.temperature == pytest.approx(card["temperature"], rel=1e-9)
    session = ort.InferenceSession(path.read_bytes(), providers=["CPUExecutionProvider"])
    (inp,), (out,) = session.get_inputs(), session.get_outputs()
    assert (inp.name, inp.shape[1:], out.shape[1:]) == ("cells", [*spec.input], [*spec.out])


@pytest.mark.parametrize("n", [0, 1, 5])
def test_view_model_predict_shapes_and_probabilities(view_model, n: int) -> None:
    spec, model, _ = view_model
    views = np.random.default_rng(n).random((n, *spec.view), np.float32)
    for reader in (model, spec.cls(threads=1, shifts=READING_SHIFTS)):
        probs = reader.predict(views)
        assert probs.shape == (n, *spec.out) and probs.dtype == np.float32
        np.testing.assert_allclose(probs.sum(axis=-1), 1.0, atol=1e-5)


def test_view_model_wrong_shape_raises_model_error(view_model) -> None:
    spec, model, _ = view_model
    for shape in ((3, 28, 28), spec.view, (3, 1, *spec.view)):
        with pytest.raises(ModelError, match="shape"):
            model.predict(np.zeros(shape, np.float32))


@pytest.mark.parametrize("spec", VIEW_MODELS, ids=lambda m: m.name)
def test_digit_model_is_not_a_view_model(spec) -> None:
    with pytest.raises(ModelError, match=", ".join(map(str, spec.input))):
        spec.cls(default_model_path())


def test_view_model_reads_the_committed_views(view_model) -> None:
    # Views made from held-out MNIST training digits through the real pipeline
    # (tests/data/README.md), scored by training/train_views.py with ONNX Runtime
    # when the model was exported: reproduced here but for a borderline box.
    spec, model, card = view_model
    stated = card["metrics"]["test_slice"]
    with np.load(Path(__file__).parent / "data" / stated["file"]) as data:
        views, labels = data["images"].astype(np.float32) / 255, data["labels"]
    read = model.predict(views).argmax(axis=-1)
    assert labels.size == stated["boxes"]
    assert float((read == labels).mean()) >= stated["box_accuracy"] - 1 / labels.size


def test_a_pair_view_of_two_empty_boxes_is_two_blank_boxes() -> None:
    # no ink cleaned; as scanned, only the two boxes' walls (a box side is 20 pixels of
    # the view, with a margin of 4 around them)
    view = np.zeros((1, 2, 28, 48), np.float32)
    view[0, 1, [4, 24], 4:45] = 1.0
    view[0, 1, 4:25, [4, 24, 44]] = 1.0
    read = PairClassifier(threads=1).predict(view)
    assert (read.argmax(axis=-1) == BLANK).all() and read.max(axis=-1).min() > 0.9
