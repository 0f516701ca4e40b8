"""Render the human-readable model card (docs/model-card.md) from the JSON card.

Usage (from the repository root, after export and evaluation)::

    python -m training.card --card idreader/models/digits.json \
        --pairs idreader/models/pairs.json --context idreader/models/context.json \
        --out docs/model-card.md

Every number in the markdown comes from the JSON card, which export.py and evaluate.py
fill with measured values, so the two cannot disagree.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

LIMITATIONS = (
    "- Handwriting is MNIST's (US Census Bureau staff and US high-school students, "
    "around 1990). Styles it under-represents, e.g. a 1 with a long flag or a crossed "
    "7, are less reliable; the calibration was fitted on the same distribution.",
    "- Pipeline cells are synthetic: real scanners, pens and forms differ.",
    "- The model sees only what `idreader.cells` leaves. A piece of box border that "
    "survives cleaning is scaled up like a stroke and can look like a 1 or a 7; a digit "
    "that cleaning erases is an empty image and reads as blank. Both are measured "
    "above on held-out pipeline cells.",
    "- Scribbles were synthetic (random polylines, crossed-out scrawls): a real "
    "crossed-out digit may still get a confident digit reading.",
)


def _pct(value: float) -> str:
    return f"{100 * value:.2f} %"


def render_model_card(card: dict) -> str:
    """The model card as markdown.

    Examples
    --------
    >>> card = json.loads(Path("idreader/models/digits.json").read_text())  # doctest: +SKIP
    >>> render_model_card(card).splitlines()[0]  # doctest: +SKIP
    '# Model card: idreader digit/blank classifier'
    """
    m = card["metrics"]
    tr = card["training"]
    lines = [
        "# Model card: idreader digit/blank classifier",
        "",
        f"Version **{card['version']}** ({card['status']}), exported {card['date']}. "
        "Generated from `idreader/models/digits.json` by `python -m training.card`; "
        "every number below was measured by `training/export.py` and "
        "`training/evaluate.py` (commands at the end).",
        "",
        "## What it does",
        "",
        "Classifies one cleaned ID box as a digit 0-9 or blank (class 10). Input: "
        f"{card['input']}. Output: {card['output']}. Normalisation "
        f"(`{card['input_normalisation']['inside_graph']}`) is inside the graph. "
        f"Temperature T = {card['temperature']:.4f}, fitted on the validation split, is "
        "stored in the ONNX metadata and applied by `idreader.classifier.DigitClassifier`.",
        "",
        f"File `idreader/models/{card['file']}`: {card['size_bytes'] / 1024:.0f} KiB, one "
        f"file, opset {card['opset']}, dynamic batch. Architecture `{card['architecture']}` "
        f"({card['parameters']:,} parameters): see `training/models.py`.",
        "",
        "## Data",
        "",
        f"- Training: {card['training_data']}.",
        f"- Validation (early model choice, temperature): {tr['validation']}.",
        "- MNIST test (10,000 digits, other writers) is used only for the final figures.",
        "- Pipeline cells: ID strips drawn by `idreader.synth.make_strip` (random layout, "
        "box size, line width, dpi 150-300, skew, blur, noise, JPEG, binarisation, faint or "
        "broken rules, specks, stray marks, pencil-grey ink, stroke width, digits crossing "
        "the border), boxes located from the true corners plus up to 6 % error, cleaned by "
        "`idreader.cells.clean_cells`. About 30 % of boxes are blank, 2 % scribbles.",
        "- Labels: digits one-hot; blank one-hot on class 10; scribbles and crossed-out "
        "boxes get a target spread uniformly over the ten digits (never blank), so the "
        "model is unsure and the reader flags the page instead of dropping a box. "
        "Digit boxes that cleaning erased entirely are left out of training.",
        "",
        "## Results",
        "",
        "| measure | value | target |",
        "|---|---|---|",
        f"| MNIST test accuracy (10,000) | **{_pct(m['mnist_test_accuracy'])}** | >= 99.65 % |",
        f"| MNIST test digits called blank | {m['mnist_test_called_blank']} | |",
        f"| first 2,000 test digits (tests/data slice) | "
        f"{_pct(m['mnist_test_first2000_accuracy'])} | |",
        f"| ECE, 15 bins, MNIST test, before / after T | {_pct(m['mnist_test_ece_before'])} "
        f"/ {_pct(m['mnist_test_ece_after'])} | <= 1 % after |",
        f"| ECE, 15 bins, validation, before / after T | {_pct(m['val_ece_before'])} / "
        f"{_pct(m['val_ece_after'])} | |",
    ]
    if "cells_blank_recall" in m:
        lines += [
            f"| blank recall, held-out pipeline cells | **{_pct(m['cells_blank_recall'])}** | "
            ">= 99.9 % |",
            f"| digits called blank, held-out pipeline cells | "
            f"**{_pct(m['cells_false_blank_rate'])}** (excluding digits cleaning erased: "
            f"{_pct(m['cells_false_blank_rate_nonempty'])}) | <= 0.05 % |",
            f"| digit accuracy, held-out pipeline cells | {_pct(m['cells_digit_accuracy'])} | |",
            f"| scribbles called blank, held-out pipeline cells | "
            f"{_pct(m['cells_scribble_called_blank'])} | 0 |",
        ]
    if "speed" in card:
        sp = card["speed"]
        lines.append(
            f"| ONNX Runtime, one thread, batch {sp['batch']} | "
            f"{sp['classifier_cells_per_cpu_s']:,.0f} cells per CPU second "
            f"({sp['classifier_vs_raw_session']:.2f} x a bare session, "
            f"{sp['classifier_vs_clean_cell']:.0f} x cell cleaning; one run on a shared "
            "machine whose load moves these figures by tens of percent) | >= 5,000 |"
        )
    lines += [
        f"| blank recall, model-space synthetic blanks | "
        f"{_pct(m['synthetic_blank_recall_model_space'])} | |",
        f"| worst moderate robustness condition | {_pct(m['robustness_min_moderate'])} | >= 99 % |",
        f"| ONNX Runtime vs torch, max abs logit difference | "
        f"{m['onnx_vs_torch_max_abs_logit_diff']:.1e} | <= 1e-4 |",
        "",
        f"Held-out pipeline cells: {m.get('cells_test_source', 'see training/README.md')}.",
        "",
        "### Robustness (MNIST test, 10,000 digits per condition)",
        "",
        "| condition | severity | accuracy |",
        "|---|---|---|",
    ]
    lines += [
        f"| {r['condition']} | {r['severity']} | {_pct(r['accuracy'])} |"
        for r in card.get("robustness", [])
    ]
    lines += [
        "",
        "### Per class (MNIST test)",
        "",
        "| class | precision | recall | F1 |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {name} | {v['precision']:.4f} | {v['recall']:.4f} | {v['f1']:.4f} |"
        for name, v in card.get("per_class", {}).items()
    ]
    if card.get("architecture_comparison"):
        lines += [
            "",
            "## Architecture comparison (short runs)",
            "",
            "2 epochs on 15,000 MNIST training digits plus the first pipeline-cell cache; all "
            "scored on the same validation set; speed: ONNX Runtime, one thread, batch 64, "
            "measured in one process on the shared machine (compare ratios, not absolutes).",
            "",
            "| architecture | parameters | val accuracy | MNIST val | pipeline cells val | "
            "cells/s |",
            "|---|---|---|---|---|---|",
        ]
        for r in card["architecture_comparison"]:
            src = r["val_acc_by_source"]
            lines.append(
                f"| {r['arch']} | {r['params']:,} | {_pct(r['val_acc'])} | "
                f"{_pct(src.get('mnist', float('nan')))} | "
                f"{_pct(src.get('cells_val', float('nan')))} | "
                f"{r['ort_cells_per_s_1thread_b64']:,} |"
            )
    lines += [
        "",
        "## Limits",
        "",
        *LIMITATIONS,
        "",
        "## Reproduce",
        "",
        f"Training ({tr['epochs']} epochs, {tr['seconds'] / 60:.0f} min): "
        f"`{tr['command']}`. Full recipe: `training/README.md`.",
        "",
    ]
    if tr.get("note"):  # provenance, e.g. which model a fine-tune started from
        lines += [tr["note"], ""]
    return "\n".join(lines)


#: What each view model's section of the card says about the model, beyond its JSON card:
#: title, what it is for, how the reader uses it, what its test views are.
VIEW_SECTIONS = {
    "PairCNN": (
        "The pair model: two touching digits",
        "Two digits that run together across the wall between their boxes are cut apart "
        "in several ways and each cut read by the digit model; where they overlap, no cut "
        "parts them. The pair model reads both boxes at once.",
        "The reader mixes its reading with the cuts' (`idreader.cell_split.blend`, `PAIR_WEIGHT`).",
        "These views are hard by construction: every one is two digits run together, "
        "most pushed 15 to 45 % of a box into each other.",
    ),
    "ContextCNN": (
        "The context model: a box with its walls",
        "A digit that runs into a ruled line may have a stroke lying on it; the reader "
        "reads such a box as cleaned and with the line given back, and the cleaned cells "
        "no longer show the line's thickness or the ink on both sides of it. The context "
        "model reads the box as scanned.",
        "The reader mixes its reading with the box's readings' "
        "(`idreader.cell_split.blend`, `CONTEXT_WEIGHT`).",
        "Every one of these views is a box whose ink runs into a wall, most from strips "
        "whose digits are pushed 30 to 45 % of a box across walls.",
    ),
}


def render_view_card(card: dict, json_name: str, trainer: str) -> str:
    """The section of the model card for the pair or the context model, as markdown.

    Examples
    --------
    >>> card = json.loads(Path("idreader/models/pairs.json").read_text())  # doctest: +SKIP
    >>> render_view_card(card, "pairs.json", "train_pairs").splitlines()[0]  # doctest: +SKIP
    '# The pair model: two touching digits'
    """
    m, tr = card["metrics"], card["training"]
    title, what, use, hard = VIEW_SECTIONS[card["architecture"]]
    two = "pair_accuracy" in m["test"]
    rows = [("validation views (temperature fitted here)", m["val"]), ("test views", m["test"]),
            (f"test slice `tests/data/{m['test_slice']['file']}` (ONNX Runtime)",
             m["test_slice"])]  # fmt: skip
    lines = [
        f"# {title}",
        "",
        f"Version **{card['version']}**, exported {card['date']}, from "
        f"`idreader/models/{json_name}` (written by `training/{trainer}.py`). File "
        f"`idreader/models/{card['file']}`: {card['size_bytes'] / 1024:.0f} KiB, opset "
        f"{card['opset']}, {card['parameters']:,} parameters (`{card['architecture']}` in "
        "`training/models.py`).",
        "",
        f"{what} Input: {card['input']}. Output: {card['output']}. Temperature T = "
        f"{card['temperature']:.4f}, fitted on the validation views. {use}",
        "",
        f"Training data: {card['training_data']}.",
        "",
        "| views | boxes | box accuracy | digit boxes |"
        + (" both boxes right |" if two else "")
        + " ECE |",
        "|---|---:|---:|---:|" + ("---:|" if two else "") + "---:|",
    ]
    lines += [
        f"| {name} | {r['boxes']:,} | {_pct(r['box_accuracy'])} | "
        f"{_pct(r['digit_box_accuracy'])} | "
        + (f"{_pct(r['pair_accuracy'])} | " if two else "")
        + f"{r['ece']:.4f} |"
        for name, r in rows
    ]
    lines += [
        "",
        f"{hard} What the model adds to the reader is measured in `training/README.md` and "
        "`docs/robustness.md`.",
        "",
        f"Training ({tr['epochs']} epochs, {tr['seconds'] / 60:.0f} min): `{tr['command']}`.",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--card", default="idreader/models/digits.json")
    p.add_argument("--pairs", default="idreader/models/pairs.json", help="the pair model's card")
    p.add_argument(
        "--context", default="idreader/models/context.json", help="the context model's card"
    )
    p.add_argument("--out", default="docs/model-card.md")
    args = p.parse_args(argv)
    card = json.loads(Path(args.card).read_text())
    text = render_model_card(card)
    for path, trainer in ((args.pairs, "train_pairs"), (args.context, "train_context")):
        if path:
            section = render_view_card(json.loads(Path(path).read_text()), Path(path).name, trainer)
            text += "\n" + section
    Path(args.out).write_text(text)


if __name__ == "__main__":
    main()
