"""Training code: data, augmentation, calibration, a quick training run and ONNX export.

Needs the [train] extra (torch, onnx); CI installs it. MNIST comes from the committed
test slice only (written out as IDX files in a temporary folder), never from ../shared.
"""

from __future__ import annotations

import argparse
import gzip
import json
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
onnx = pytest.importorskip("onnx")

from idreader.classifier import DigitClassifier  # noqa: E402
from idreader.errors import ModelError  # noqa: E402
from training.augment import AugmentConfig, augment, blur_and_noise, edge_fragments  # noqa: E402
from training.blanks import blank_cells, scribble_cells, scribble_target  # noqa: E402
from training.calibrate import expected_calibration_error, fit_temperature, softmax  # noqa: E402
from training.cells_data import (  # noqa: E402
    StripMix,
    random_conditions,
    split_parts,
    strip_cells,
)
from training.context_data import context_examples  # noqa: E402
from training.data import BLANK, load_mnist, train_val_split  # noqa: E402
from training.evaluate import confusion, per_class_metrics  # noqa: E402
from training.export import build_parser, run_export  # noqa: E402
from training.figures import draw_confusion, save_gallery  # noqa: E402
from training.make_test_slice import make_test_slice  # noqa: E402
from training.models import ARCHITECTURES, PairCNN, build_model, count_parameters  # noqa: E402
from training.onnx_weights import load_onnx_weights  # noqa: E402
from training.pairs_data import pair_examples  # noqa: E402
from training.schedule import Progress, one_cycle  # noqa: E402
from training.train import parse_args, predict_logits, train  # noqa: E402
from training.views import Views  # noqa: E402

SLICE = Path(__file__).parent / "data" / "mnist_test_2000.npz"


def _write_idx(path: Path, array: np.ndarray) -> None:
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(n).to_bytes(4, "big") for n in array.shape
    )
    with gzip.open(path, "wb") as fh:
        fh.write(header + array.astype(np.uint8).tobytes())


@pytest.fixture(scope="module")
def idx_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The committed slice as MNIST IDX files: all 2,000 as "train", the same as "t10k"."""
    folder = tmp_path_factory.mktemp("mnist")
    with np.load(SLICE) as d:
        images, labels = d["images"], d["labels"]
    for prefix in ("train", "t10k"):
        _write_idx(folder / f"{prefix}-images-idx3-ubyte.gz", images)
        _write_idx(folder / f"{prefix}-labels-idx1-ubyte.gz", labels)
    return folder


@pytest.fixture(scope="module")
def quick_run(idx_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    out = tmp_path_factory.mktemp("run")
    return train(parse_args(["--quick", "--data-dir", str(idx_dir), "--out", str(out)]))


def test_load_mnist_reads_idx(idx_dir: Path, mnist) -> None:
    split = load_mnist(idx_dir, subset="test")
    np.testing.assert_array_equal(split.images, mnist[0])
    np.testing.assert_array_equal(split.labels, mnist[1])
    assert split.labels.dtype == np.int64


def test_train_val_split_is_disjoint_and_complete(idx_dir: Path) -> None:
    full = load_mnist(idx_dir)
    tr, va = train_val_split(full, n_val=300, seed=3)
    assert (len(tr), len(va)) == (1700, 300)
    # every original image lands in exactly one part
    keys = {img.tobytes() for img in full.images}
    assert {img.tobytes() for img in tr.images} | {img.tobytes() for img in va.images} == keys
    again = train_val_split(full, n_val=300, seed=3)[1]
    np.testing.assert_array_equal(again.labels, va.labels)


def test_make_test_slice_reproduces_committed_file(idx_dir: Path, tmp_path: Path) -> None:
    out = make_test_slice(idx_dir, tmp_path / "slice.npz")
    with np.load(out) as new, np.load(SLICE) as old:
        for key in ("images", "labels"):
            assert new[key].dtype == old[key].dtype
            np.testing.assert_array_equal(new[key], old[key])


def test_augment_identity_when_disabled(mnist) -> None:
    x = torch.from_numpy(mnist[0][:16].astype(np.float32) / 255).unsqueeze(1)
    off = AugmentConfig(p_affine=0, p_thick=0, p_thin=0, p_blur=0, p_noise=0)
    torch.testing.assert_close(augment(x, cfg=off), x, atol=1e-5, rtol=0)


def test_augment_changes_images_but_keeps_ink_and_range(mnist) -> None:
    x = torch.from_numpy(mnist[0][:256].astype(np.float32) / 255).unsqueeze(1)
    before = x.clone()
    y = augment(x, generator=torch.Generator().manual_seed(0))
    torch.testing.assert_close(x, before)  # input untouched
    assert y.min() >= 0 and y.max() <= 1
    assert (y - x).abs().mean() > 0.02
    ratio = (y.sum((1, 2, 3)) / x.sum((1, 2, 3))).median()
    assert 0.6 < float(ratio) < 1.6  # scale/stroke changes, the digit is not lost


def test_blur_keeps_the_channels_of_a_view_apart() -> None:
    # the pair model's views have two channels: ink in one must not bleed into the other
    x = torch.zeros(4, 2, 28, 48)
    x[:, 1, 10:18, 20:28] = 1.0
    cfg = AugmentConfig(p_blur=1.0, p_noise=0.0)
    y = blur_and_noise(x, cfg=cfg, generator=torch.Generator().manual_seed(0))
    assert y.shape == x.shape and float(y[:, 0].abs().max()) == 0.0
    assert 0.0 < float(y[:, 1, 9, 24].min()) < 1.0  # the edge blurred outward
    torch.testing.assert_close(y[:, 1].sum(), x[:, 1].sum(), rtol=1e-4, atol=0.0)


def test_edge_fragments_touch_only_the_edges_of_about_p_of_the_images(mnist) -> None:
    x = torch.from_numpy(mnist[0][:1000].astype(np.float32) / 255).unsqueeze(1)
    cfg = AugmentConfig(p_fragment=0.3)
    y = edge_fragments(x, cfg=cfg, generator=torch.Generator().manual_seed(1))
    changed = (y != x).flatten(1).any(dim=1)
    assert 0.22 < float(changed.float().mean()) < 0.32  # a few stretches are empty
    torch.testing.assert_close(y[:, :, 4:24, 4:24], x[:, :, 4:24, 4:24])
    assert bool((y >= x).all()) and float(y.max()) <= 1.0
    # every side gets its share: top, bottom, left, right
    new_ink = (y - x).squeeze(1)
    sides = [new_ink[:, :4].sum((1, 2)), new_ink[:, -4:].sum((1, 2))]
    sides += [new_ink[:, :, :4].sum((1, 2)), new_ink[:, :, -4:].sum((1, 2))]
    assert all(int((s > 0).sum()) > 30 for s in sides)


def test_blank_and_scribble_cells() -> None:
    rng = np.random.default_rng(0)
    blanks = blank_cells(500, rng=rng)
    assert blanks.shape == (500, 28, 28) and blanks.dtype == np.float32
    # far less ink than a digit (MNIST digits sum to ~100), some perfectly clean
    assert np.median(blanks.sum((1, 2))) < 25
    assert (blanks.sum((1, 2)) < 0.01).mean() > 0.1
    scribbles = scribble_cells(50, rng=rng)
    assert scribbles.sum((1, 2)).min() > 20  # lots of ink
    target = scribble_target(3)
    np.testing.assert_allclose(target.sum(1), 1.0)
    assert (target[:, BLANK] == 0).all()


def test_strip_cells_through_real_pipeline(mnist) -> None:
    images, labels = mnist
    ex = strip_cells(images[:200], labels[:200], 4, rng=np.random.default_rng(5), source="t")
    assert ex.images.shape[1:] == (28, 28) and len(ex) == len(ex.targets) >= 16
    np.testing.assert_allclose(ex.targets.sum(1), 1.0, atol=1e-6)
    blank = ex.labels == BLANK
    digit = (ex.labels >= 0) & (ex.labels < BLANK)
    assert blank.any() and digit.any()
    ink = ex.images.reshape(len(ex), -1).sum(1)
    assert np.median(ink[digit]) > 30 > np.median(ink[blank])


def test_strip_cells_with_readings_add_the_other_readings_of_the_same_strips(mnist) -> None:
    # digits pushed across walls make touching pairs and wall readings; with readings,
    # a strip's boxes come first, as without, then its other readings, each with the
    # target of a box of that strip
    images, labels = mnist
    mix = StripMix(cross_share=1.0, cross_border=0.5)

    def cells(seed: int, readings: bool):
        rng = np.random.default_rng(seed)
        return strip_cells(images[:300], labels[:300], 1, rng=rng, source="t", mix=mix,
                           readings=readings)  # fmt: skip

    extra = 0
    for seed in range(6):
        plain, more = cells(seed, False), cells(seed, True)
        n = len(plain)
        np.testing.assert_array_equal(more.images[:n], plain.images)
        np.testing.assert_array_equal(more.targets[:n], plain.targets)
        assert set(more.labels[n:]) <= set(plain.labels)
        extra += len(more) - n
    assert extra >= 10


def test_split_parts_give_held_out_halves_to_val_and_test(idx_dir: Path) -> None:
    plan = split_parts(idx_dir, strips=50, n_val=400, parts=("train", "val", "test"))
    assert [(name, n) for name, _, _, n, _ in plan] == [("train", 50), ("val", 5), ("test", 5)]
    sizes = [len(labels) for _, _, labels, _, _ in plan]
    assert sizes == [1600, 200, 200]
    val, test = (images.reshape(len(images), -1) for _, images, _, _, _ in plan[1:])
    assert not {row.tobytes() for row in val} & {row.tobytes() for row in test}
    assert [name for name, *_ in split_parts(idx_dir, strips=5, parts=("train",))] == ["train"]


def test_random_conditions_draw_crossing_and_binarised_strips_in_the_asked_shares() -> None:
    def drawn(mix: StripMix) -> list:
        rng = np.random.default_rng(3)
        return [random_conditions(rng, mix=mix)[1] for _ in range(400)]

    default = drawn(StripMix())
    pushed = np.array([d.cross_border for d in default])
    assert set(pushed) == {0.0, 0.1} and 0.12 < (pushed > 0).mean() < 0.28
    assert 0.04 < np.mean([d.binarize for d in default]) < 0.12
    harsh = drawn(StripMix(cross_share=0.6, cross_border=0.5, binarize=0.5))
    pushed = np.array([d.cross_border for d in harsh])
    assert set(pushed) == {0.0, 0.5} and 0.5 < (pushed > 0).mean() < 0.7
    assert 0.4 < np.mean([d.binarize for d in harsh]) < 0.6


def test_pair_examples_are_the_views_of_touching_pairs_with_both_truths(mnist) -> None:
    images, labels = mnist
    pairs = pair_examples(images[:400], labels[:400], 30, rng=np.random.default_rng(2))
    n = len(pairs.labels)
    assert n >= 10 and pairs.images.shape == (n, 2, 28, 48) and pairs.labels.shape == (n, 2)
    assert 0.0 <= pairs.images.min() and pairs.images.max() <= 1.0
    assert set(pairs.labels.ravel()) <= set(range(11))
    assert (pairs.labels < BLANK).mean() > 0.8  # mostly two digits; a few into a blank box
    # ink on both sides of the wall in the middle of most views
    cleaned, scanned = pairs.images[:, 0], pairs.images[:, 1]
    halves = cleaned[:, :, :24].sum(axis=(1, 2)), cleaned[:, :, 24:].sum(axis=(1, 2))
    assert np.mean((halves[0] > 5) & (halves[1] > 5)) > 0.8
    # the boxes as scanned: the walls too (the middle column, the top and bottom lines)
    assert np.mean(scanned[:, 8:20, 23:25].max(axis=2).mean(axis=1) > 0.3) > 0.9
    assert (scanned.sum(axis=(1, 2)) > cleaned.sum(axis=(1, 2))).all()


def test_context_examples_are_the_boxes_read_with_a_line_given_back(mnist) -> None:
    images, labels = mnist
    views = context_examples(images[:400], labels[:400], 30, rng=np.random.default_rng(4))
    n = len(views.labels)
    assert n >= 30 and views.images.shape == (n, 48, 48) and views.labels.shape == (n,)
    assert 0.0 <= views.images.min() and views.images.max() <= 1.0
    assert set(views.labels) <= set(range(11)) and (views.labels < BLANK).mean() > 0.8
    # the box's walls are in the view: its rim (the margin beyond the box) holds ink
    rim = np.ones((48, 48), bool)
    rim[8:40, 8:40] = False
    assert np.mean(views.images[:, rim].max(axis=1) > 0.5) > 0.9


@pytest.mark.parametrize(
    ("kind", "option", "architecture", "boxes"),
    [("pairs", "--pairs", "PairCNN", 2), ("context", "--views", "ContextCNN", 1)],
)
def test_view_training_exports_a_model_the_reader_loads(
    mnist, tmp_path: Path, kind: str, option: str, architecture: str, boxes: int
) -> None:
    import idreader.classifier as classifier
    import training.train_context
    import training.train_pairs

    make = {"pairs": pair_examples, "context": context_examples}[kind]
    train = {"pairs": training.train_pairs.main, "context": training.train_context.main}[kind]
    images, labels = mnist
    for part, seed in (("train", 1), ("val", 2), ("test", 3)):
        make(images, labels, 12, rng=np.random.default_rng(seed)).save(tmp_path / f"c_{part}.npz")
    out, card, kept = tmp_path / f"{kind}.onnx", tmp_path / f"{kind}.json", tmp_path / "v.npz"
    train([option, str(tmp_path / "c"), "--epochs", "1", "--threads", "1",
           "--version", "0.0.1", "--out", str(out), "--card", str(card),
           "--slice", str(kept), "--slice-size", "5"])  # fmt: skip
    model = {"pairs": classifier.PairClassifier, "context": classifier.ContextClassifier}[kind](
        out, threads=1
    )
    assert model.info.version == "0.0.1" and model.info.temperature > 0
    assert model.info.metadata["architecture"] == architecture
    stored = Views.load(kept)
    written = json.loads(card.read_text())
    assert written["metrics"]["test_slice"]["boxes"] == stored.labels.size == 5 * boxes
    assert ("pair_accuracy" in written["metrics"]["test"]) == (boxes == 2)
    read = model.predict(stored.images).argmax(axis=-1)
    assert float((read == stored.labels).mean()) == written["metrics"]["test_slice"]["box_accuracy"]


def test_pair_model_reads_two_boxes() -> None:
    assert PairCNN().eval()(torch.zeros(3, 2, 28, 48)).shape == (3, 2, 11)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_architectures_output_eleven_logits(name: str) -> None:
    model = build_model(name).eval()
    assert model(torch.zeros(3, 1, 28, 28)).shape == (3, 11)
    assert 30_000 < count_parameters(model) < 250_000


def test_fit_temperature_recovers_known_scale() -> None:
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 11, 4000)
    logits = 3.0 * np.eye(11)[labels] + rng.normal(0, 1.0, (4000, 11))
    # sample labels from the model itself: it is then calibrated at T = 1 ...
    probs = softmax(logits)
    sampled = np.array([rng.choice(11, p=p) for p in probs])
    t1 = fit_temperature(logits, np.eye(11)[sampled])
    assert t1 == pytest.approx(1.0, abs=0.1)
    # ... and 3x sharper logits need T = 3
    assert fit_temperature(3 * logits, np.eye(11)[sampled]) == pytest.approx(3 * t1, rel=1e-3)
    calibrated = expected_calibration_error(probs, sampled)
    assert calibrated < 0.03 < expected_calibration_error(softmax(3 * logits), sampled)


def test_quick_training_loss_decreases(quick_run) -> None:
    losses = quick_run.history["step_loss"]
    assert len(losses) >= 4
    assert np.mean(losses[-2:]) < 0.7 * np.mean(losses[:2])
    assert quick_run.history["epochs"][0]["val_acc"] > 0.5  # chance is ~0.1
    for name in ("model.pt", "checkpoint.pt", "val.npz", "history.json", "train_args.json"):
        assert (quick_run.out_dir / name).is_file()


def test_export_matches_torch_and_carries_metadata(quick_run, tmp_path: Path) -> None:
    onnx_path, card_path = tmp_path / "digits.onnx", tmp_path / "digits.json"
    args = export_args(quick_run.out_dir, onnx_path, card_path)
    card = run_export(args)
    proto = onnx.load(str(onnx_path))
    meta = {p.key: p.value for p in proto.metadata_props}
    assert json.loads(meta["classes"])[-1] == "blank" and len(json.loads(meta["classes"])) == 11
    assert meta["version"] == "0.0.test"
    assert float(meta["temperature"]) == pytest.approx(card["temperature"])
    assert {"input_normalisation", "training_data"} <= set(meta)
    assert proto.opset_import[0].version >= 17
    assert card["metrics"]["onnx_vs_torch_max_abs_logit_diff"] <= 1e-4
    # Independent check through the runtime wrapper, on a dynamic batch size.
    with np.load(SLICE) as d:
        x = d["images"][:37].astype(np.float32) / 255
    logits = predict_logits(quick_run.model, x)
    expected = softmax(logits, card["temperature"])
    np.testing.assert_allclose(DigitClassifier(onnx_path).predict(x), expected, atol=1e-4)
    traced = torch.jit.load(str(quick_run.out_dir / "model.ts"))
    with torch.no_grad():
        np.testing.assert_allclose(traced(torch.from_numpy(x[:, None])).numpy(), logits, atol=1e-4)


def export_args(run: Path, onnx_path: Path, card_path: Path) -> argparse.Namespace:
    argv = ["--run", str(run), "--out", str(onnx_path), "--card", str(card_path)]
    argv += ["--version", "0.0.test", "--status", "test"]
    return build_parser().parse_args(argv)


def test_onnx_weights_read_back_compute_the_same_logits(quick_run, tmp_path: Path) -> None:
    onnx_path = tmp_path / "digits.onnx"
    run_export(export_args(quick_run.out_dir, onnx_path, tmp_path / "c.json"))
    with np.load(SLICE) as d:
        x = d["images"][:256].astype(np.float32) / 255
    arch = json.loads((quick_run.out_dir / "train_args.json").read_text())["arch"]
    model = load_onnx_weights(build_model(arch), onnx_path, x)
    expected = predict_logits(quick_run.model, x)
    np.testing.assert_allclose(predict_logits(model, x), expected, atol=1e-4)
    # In train mode (dropout aside) the BatchNorms normalise with the batch's own
    # statistics; on the batch they were measured on, that must change nothing.
    model.train()
    for layer in model:
        if isinstance(layer, torch.nn.Dropout):
            layer.eval()
    with torch.no_grad():
        trained = model(torch.from_numpy(x[:, None])).numpy()
    np.testing.assert_allclose(trained, expected, atol=1e-2)
    other = next(name for name in sorted(ARCHITECTURES) if name != arch)
    with pytest.raises(ValueError, match="convs|shape"):
        load_onnx_weights(build_model(other), onnx_path, x)


def test_model_without_metadata_raises_model_error(quick_run, tmp_path: Path) -> None:
    onnx_path = tmp_path / "digits.onnx"
    run_export(export_args(quick_run.out_dir, onnx_path, tmp_path / "c.json"))
    proto = onnx.load(str(onnx_path))
    del proto.metadata_props[:]
    onnx.save(proto, str(onnx_path))
    with pytest.raises(ModelError, match="lacks metadata"):
        DigitClassifier(onnx_path)


def test_one_cycle_warms_up_then_anneals() -> None:
    lrs = [one_cycle(p, max_lr=3e-3) for p in np.linspace(0, 1, 101)]
    peak = int(np.argmax(lrs))
    assert peak == 20 and lrs[peak] == pytest.approx(3e-3)
    assert all(np.diff(lrs[: peak + 1]) > 0) and all(np.diff(lrs[peak:]) < 0)
    assert lrs[-1] < 1e-7


def test_progress_follows_the_time_budget_when_it_binds() -> None:
    progress = Progress(total_steps=1000, budget_s=100.0, seconds_before=50.0)
    progress.step()
    assert 0.5 <= progress.fraction < 0.52 and not progress.done
    progress.load_state_dict({"steps": 999, "seconds": 0.0})
    progress.step()
    assert progress.done  # the step limit binds when time is left


def test_evaluation_metrics_and_figures(tmp_path: Path) -> None:
    labels = np.array([0, 0, 1, 1, 2, 2])
    pred = np.array([0, 1, 1, 1, 2, BLANK])
    metrics = per_class_metrics(pred, labels)
    assert metrics["1"] == pytest.approx(
        {"precision": 2 / 3, "recall": 1.0, "f1": 0.8, "support": 2}
    )
    assert metrics["blank"]["precision"] == 0.0
    matrix = confusion(pred, labels)
    assert matrix.sum() == 6 and matrix[0, 1] == 1 and matrix[2, BLANK] == 1
    draw_confusion(matrix, tmp_path / "c.png")
    save_gallery(np.ones((3, 28, 28), np.float32), tmp_path / "g.png", per_row=2)
    import cv2

    assert cv2.imread(str(tmp_path / "c.png")).shape == (60 + 10 * 48 + 10, 60 + 11 * 48 + 10, 3)
    gallery = cv2.imread(str(tmp_path / "g.png"), cv2.IMREAD_GRAYSCALE)
    assert gallery.shape == (180, 180) and gallery.max() == 255


def test_init_starts_from_given_weights(quick_run, idx_dir: Path, tmp_path: Path) -> None:
    # With a vanishing LR the fine-tuned run must keep the given weights (BN buffers
    # may move, parameters may not), which shows --init loaded them.
    argv = ["--quick", "--data-dir", str(idx_dir), "--out", str(tmp_path)]
    argv += ["--init", str(quick_run.out_dir / "model.pt"), "--lr", "1e-12", "--p-thin", "0.3"]
    args = parse_args(argv)
    args.subset = 300  # --quick sets 3,000; a few steps are enough here
    assert args.p_thin == 0.3 and parse_args([]).p_thin == AugmentConfig().p_thin
    tuned = train(args)
    for (name, a), b in zip(
        quick_run.model.named_parameters(), tuned.model.parameters(), strict=True
    ):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=0, msg=name)
    assert tuned.history["epochs"][0]["val_acc"] > 0.5


def test_export_note_reaches_the_rendered_card(quick_run, tmp_path: Path) -> None:
    from training.card import render_model_card

    args = export_args(quick_run.out_dir, tmp_path / "digits.onnx", tmp_path / "digits.json")
    args.note = "0.0.test is a fine-tune of 0.0.base."
    card = run_export(args)
    assert card["training"]["note"] == args.note
    # the renderer needs the figures that evaluate.py would have merged in
    card["metrics"] |= dict.fromkeys(
        ["mnist_test_accuracy", "mnist_test_first2000_accuracy", "robustness_min_moderate"], 0.99
    )
    card["metrics"] |= {"mnist_test_ece_before": 0.01, "mnist_test_ece_after": 0.01}
    card["metrics"] |= {"mnist_test_called_blank": 0, "synthetic_blank_recall_model_space": 1.0}
    assert args.note in render_model_card(card)
