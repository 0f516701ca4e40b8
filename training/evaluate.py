"""Evaluate an ONNX digit model and write a report (markdown + JSON + confusion PNG).

Usage (from the repository root)::

    python -m training.evaluate --model idreader/models/digits.onnx \
        --cells runs/cells/synth --out runs/eval --card idreader/models/digits.json

Measures, with ONNX Runtime through :class:`idreader.classifier.DigitClassifier` (what
ships): MNIST test accuracy (10,000 digits) and per-class precision/recall/F1; the
accuracy on the first 2,000 test digits (the committed test slice); ECE before and
after temperature scaling; blank recall and false-blank rate on held-out synthetic
cells; a robustness table. Headline numbers are merged into the model card.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

import numpy as np

from .blanks import blank_cells
from .calibrate import expected_calibration_error, softmax
from .data import BLANK, CLASSES, DEFAULT_DATA_DIR, load_mnist
from .dataset import Examples
from .figures import draw_confusion, save_gallery
from .robustness import CONDITIONS

log = logging.getLogger(__name__)


def per_class_metrics(pred: np.ndarray, labels: np.ndarray) -> dict[str, dict[str, float]]:
    """Precision, recall, F1 and support per class present in ``labels`` or ``pred``.

    Examples
    --------
    >>> per_class_metrics(np.array([0, 1, 1]), np.array([0, 1, 0]))["1"]["precision"]
    0.5
    """
    out = {}
    for c in sorted(set(labels.tolist()) | set(pred.tolist())):
        tp = int(((pred == c) & (labels == c)).sum())
        precision = tp / max(int((pred == c).sum()), 1)
        recall = tp / max(int((labels == c).sum()), 1)
        f1 = 2 * precision * recall / max(precision + recall, 1e-12)
        out[CLASSES[c]] = {
            "precision": precision,
            "recall": recall,
            "f1": f1,
            "support": int((labels == c).sum()),
        }
    return out


def confusion(pred: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Counts ``(11, 11)``: rows true class, columns predicted class."""
    m = np.zeros((11, 11), np.int64)
    np.add.at(m, (labels, pred), 1)
    return m


def evaluate(
    model_path: Path,
    *,
    data_dir: Path,
    cells_prefix: Path | None,
    out: Path,
    seed: int = 0,
) -> dict:
    """Run every measurement; write ``report.json``, ``report.md`` and ``confusion.png``."""
    from idreader.classifier import DigitClassifier

    clf = DigitClassifier(model_path, threads=2)
    temperature = clf.info.temperature
    out.mkdir(parents=True, exist_ok=True)
    test = load_mnist(data_dir, subset="test")
    x = test.images.astype(np.float32) / 255.0
    probs = clf.predict(x)
    pred = probs.argmax(1)
    # softmax(T * log p) recovers the uncalibrated probabilities.
    raw = softmax(temperature * np.log(np.maximum(probs, 1e-30)))
    report: dict = {
        "model": str(model_path),
        "version": clf.info.version,
        "temperature": temperature,
        "mnist_test_accuracy": float((pred == test.labels).mean()),
        "mnist_test_errors": int((pred != test.labels).sum()),
        "mnist_test_first2000_accuracy": float((pred[:2000] == test.labels[:2000]).mean()),
        "mnist_test_called_blank": int((pred == BLANK).sum()),
        "mnist_test_ece_before": expected_calibration_error(raw, test.labels),
        "mnist_test_ece_after": expected_calibration_error(probs, test.labels),
        "per_class": per_class_metrics(pred, test.labels),
    }
    draw_confusion(confusion(pred, test.labels), out / "confusion.png")
    rng = np.random.default_rng(seed + 7)
    synth_blanks = blank_cells(5000, rng=rng)
    report["synthetic_blank_recall_model_space"] = float(
        (clf.predict(synth_blanks).argmax(1) == BLANK).mean()
    )
    if cells_prefix is not None:
        cells = Examples.load(Path(f"{cells_prefix}_test.npz"))
        report.update(_pipeline_cells(clf, cells, out=out))
    robust = []
    for cond in CONDITIONS:
        sub = slice(0, 10000)
        perturbed = cond.apply(x[sub], np.random.default_rng(seed + 11))
        acc = float((clf.predict(perturbed).argmax(1) == test.labels[sub]).mean())
        robust.append({"condition": cond.name, "severity": cond.severity, "accuracy": acc})
        log.info("robustness %-32s %.4f", cond.name, acc)
    report["robustness"] = robust
    report["robustness_min_moderate"] = min(
        r["accuracy"] for r in robust if r["severity"] == "moderate"
    )
    (out / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out / "report.md").write_text(render_markdown(report))
    return report


def _pipeline_cells(clf, cells: Examples, *, out: Path) -> dict:
    """Blank recall, false-blank rate and digit accuracy on held-out pipeline cells.

    Also writes galleries of blank boxes read as digits (``blank_errors.png``) and digit
    boxes read as blank (``false_blank.png``) into ``out``.
    """
    probs = clf.predict(cells.images)
    pred, top = probs.argmax(1), probs.max(1)
    labels = cells.labels
    blank, digit, scribble = labels == BLANK, (labels >= 0) & (labels < BLANK), labels < 0
    has_ink = cells.images.reshape(len(labels), -1).max(1) > 0
    empty_digit = digit & ~has_ink
    wrong = (labels >= 0) & (pred != labels)
    save_gallery(cells.images[blank & (pred != BLANK)], out / "blank_errors.png")
    save_gallery(cells.images[digit & (pred == BLANK)], out / "false_blank.png")
    return {
        "cells_blank_with_ink": int((blank & has_ink).sum()),
        # None when cleaning left no blank box with ink (a mean over nothing is NaN)
        "cells_blank_recall_with_ink": float((pred[blank & has_ink] == BLANK).mean())
        if (blank & has_ink).any()
        else None,
        "cells_blank_recall_empty": float((pred[blank & ~has_ink] == BLANK).mean()),
        # Errors made with top probability >= 0.9 would pass a 0.9 confidence threshold.
        "cells_errors": int(wrong.sum()),
        "cells_confident_errors": int((wrong & (top >= 0.9)).sum()),
        "cells_test_count": int(len(labels)),
        "cells_blank_count": int(blank.sum()),
        "cells_blank_recall": float((pred[blank] == BLANK).mean()),
        "cells_digit_count": int(digit.sum()),
        "cells_digit_accuracy": float((pred[digit] == labels[digit]).mean()),
        "cells_false_blank_rate": float((pred[digit] == BLANK).mean()),
        # A digit box that cleaning emptied cannot be read by any model: reported apart.
        "cells_digit_emptied_by_cleaning": int(empty_digit.sum()),
        "cells_false_blank_rate_nonempty": float((pred[digit & ~empty_digit] == BLANK).mean()),
        "cells_scribble_count": int(scribble.sum()),
        "cells_scribble_called_blank": float((pred[scribble] == BLANK).mean())
        if scribble.any()
        else 0.0,
        "cells_scribble_mean_top_prob": float(probs[scribble].max(1).mean())
        if scribble.any()
        else 0.0,
    }


def render_markdown(report: dict) -> str:
    """The report as a short markdown document."""
    pct = lambda v: "n/a" if v is None else f"{100 * v:.2f} %"  # noqa: E731
    lines = [
        f"# Evaluation of {report['model']} (version {report['version']})",
        "",
        f"- MNIST test accuracy (10,000): **{pct(report['mnist_test_accuracy'])}** "
        f"({report['mnist_test_errors']} errors; {report['mnist_test_called_blank']} "
        "digits called blank)",
        f"- First 2,000 test digits (committed slice): "
        f"{pct(report['mnist_test_first2000_accuracy'])}",
        f"- ECE (15 bins, MNIST test): {pct(report['mnist_test_ece_before'])} before, "
        f"{pct(report['mnist_test_ece_after'])} after temperature scaling "
        f"(T = {report['temperature']:.3f})",
        f"- Synthetic blank cells (model space, 5,000) called blank: "
        f"{pct(report['synthetic_blank_recall_model_space'])}",
    ]
    if "cells_blank_recall" in report:
        lines += [
            f"- Held-out pipeline cells ({report['cells_test_count']}): blank recall "
            f"**{pct(report['cells_blank_recall'])}** of {report['cells_blank_count']}; "
            f"digits called blank **{pct(report['cells_false_blank_rate'])}** of "
            f"{report['cells_digit_count']} ({report['cells_digit_emptied_by_cleaning']} "
            f"emptied by cleaning; {pct(report['cells_false_blank_rate_nonempty'])} of "
            "the rest); digit accuracy "
            f"{pct(report['cells_digit_accuracy'])}; scribbles called blank "
            f"{pct(report['cells_scribble_called_blank'])} "
            f"(mean top probability {report['cells_scribble_mean_top_prob']:.2f})",
            f"- Blank boxes with ink left after cleaning: {report['cells_blank_with_ink']} "
            f"(recall on them {pct(report['cells_blank_recall_with_ink'])}; on empty ones "
            f"{pct(report['cells_blank_recall_empty'])}). Errors on pipeline cells: "
            f"{report['cells_errors']}, of which {report['cells_confident_errors']} with "
            "top probability >= 0.9 (`blank_errors.png`, `false_blank.png`)",
        ]
    lines += [
        "",
        "## Per class (MNIST test)",
        "",
        "| class | precision | recall | F1 | n |",
        "|---|---|---|---|---|",
    ]
    for name, m in report["per_class"].items():
        lines.append(
            f"| {name} | {m['precision']:.4f} | {m['recall']:.4f} | {m['f1']:.4f} | "
            f"{m['support']} |"
        )
    lines += [
        "",
        "## Robustness (MNIST test, 10,000 digits per condition)",
        "",
        "| condition | severity | accuracy |",
        "|---|---|---|",
    ]
    for r in report["robustness"]:
        lines.append(f"| {r['condition']} | {r['severity']} | {pct(r['accuracy'])} |")
    lines += ["", "Confusion matrix: `confusion.png` (rows true digit, columns predicted).", ""]
    return "\n".join(lines)


HEADLINE_KEYS = (
    "mnist_test_accuracy",
    "mnist_test_first2000_accuracy",
    "mnist_test_called_blank",
    "mnist_test_ece_before",
    "mnist_test_ece_after",
    "synthetic_blank_recall_model_space",
    "cells_blank_recall",
    "cells_false_blank_rate",
    "cells_false_blank_rate_nonempty",
    "cells_digit_accuracy",
    "cells_scribble_called_blank",
    "cells_blank_recall_with_ink",
    "cells_errors",
    "cells_confident_errors",
    "cells_test_source",
    "robustness_min_moderate",
)


def update_card(card_path: Path, report: dict) -> None:
    """Merge the headline numbers and the robustness table into the JSON model card."""
    card = json.loads(card_path.read_text())
    if card.get("version") != report["version"]:
        raise ValueError(f"card version {card.get('version')} != model {report['version']}")
    card.setdefault("metrics", {}).update({k: report[k] for k in HEADLINE_KEYS if k in report})
    card["robustness"] = report["robustness"]
    card["per_class"] = report["per_class"]
    card_path.write_text(json.dumps(card, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", default="idreader/models/digits.onnx")
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR))
    p.add_argument("--cells", default=None, help="cell cache prefix (uses <prefix>_test.npz)")
    p.add_argument("--out", default="runs/eval")
    p.add_argument("--cells-note", default="", help="where the held-out cells came from")
    p.add_argument("--card", default=None, help="model card JSON to update")
    args = p.parse_args(argv)
    report = evaluate(
        Path(args.model),
        data_dir=Path(args.data_dir),
        cells_prefix=Path(args.cells) if args.cells else None,
        out=Path(args.out),
    )
    if args.cells_note:
        report["cells_test_source"] = args.cells_note
        (Path(args.out) / "report.json").write_text(json.dumps(report, indent=2) + "\n")
    if args.card:
        update_card(Path(args.card), report)


if __name__ == "__main__":
    main()
