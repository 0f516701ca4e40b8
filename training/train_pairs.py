"""Train the pair model on views of touching digits, calibrate it and export it.

Two digits that run together across the wall between their boxes are cut apart in
several ways and each cut read by the digit model (:mod:`idreader.cell_split`); where
they overlap, no cut parts them. The pair model reads the two boxes at once
(:func:`idreader.cell_split.pair_view`) and says what each holds; the reader weighs
its reading with the cuts' (:meth:`idreader.cells.Cells.resolve`).

Usage (from the repository root; caches from :mod:`training.pairs_data`)::

    python -m training.train_pairs --pairs runs/pairs/s0 runs/pairs/s1 runs/pairs/s2 \\
        runs/pairs/s3 --held-out runs/pairs/s0 runs/pairs/s1 --epochs 14 --version 1.1.0 \\
        --out idreader/models/pairs.onnx --card idreader/models/pairs.json \\
        --slice tests/data/pair_views_400.npz

Each ``--pairs`` prefix contributes its ``_train`` part, and its ``_val`` and ``_test``
parts unless ``--held-out`` names the prefixes to take those from. The best epoch on
validation is kept; the temperature is fitted on validation; test is scored once, at
the end, for the card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .augment import AugmentConfig, blur_and_noise, random_affine, stroke_width
from .calibrate import expected_calibration_error, fit_temperature, softmax
from .data import BLANK, CLASSES
from .export import OPSET, export_onnx
from .models import PairCNN, count_parameters
from .pairs_data import Pairs
from .schedule import Progress, one_cycle

log = logging.getLogger(__name__)

#: Milder than the digit model's: where ink lies against the wall in the middle says
#: whose it is, so the views are shifted by a pixel or two only.
PAIR_AUGMENT = AugmentConfig(rotation_deg=5.0, scale=(0.92, 1.08), shift_px=1.5, shear=0.1,
                             p_affine=0.8)  # fmt: skip
INPUT_DESCRIPTION = json.dumps(
    {
        "input": "float32 (N, 1, 28, 48) in [0, 1], white ink on black: two boxes side by "
        "side, their wall at the middle column (idreader.cell_split.pair_view)",
        "inside_graph": "(x - 0.1307) / 0.3081",
    }
)


def load_parts(prefixes: list[str], part: str) -> Pairs:
    """The ``part`` (train, val or test) of every cache prefix, joined."""
    parts = [Pairs.load(f"{prefix}_{part}.npz") for prefix in prefixes]
    images, labels = (np.concatenate([getattr(p, k) for p in parts]) for k in ("images", "labels"))
    return Pairs(images, labels)


def held_out(args: argparse.Namespace) -> list[str]:
    """The cache prefixes whose val and test parts are used (``--held-out``, or ``--pairs``)."""
    return args.held_out or args.pairs


@torch.no_grad()
def pair_logits(model: torch.nn.Module, images: np.ndarray, *, batch: int = 1024) -> np.ndarray:
    """Logits ``(n, 2, 11)`` of views float32 ``(n, 28, 48)`` (eval mode)."""
    model.eval()
    out = [model(torch.from_numpy(images[i : i + batch]).unsqueeze(1)).numpy()
           for i in range(0, len(images), batch)]  # fmt: skip
    return np.concatenate(out) if out else np.zeros((0, 2, 11), np.float32)


def scores(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> dict[str, float]:
    """Box and pair accuracy, digit boxes' accuracy, and ECE (15 bins) over boxes."""
    pred = logits.argmax(-1)
    right = pred == labels
    digits = labels != BLANK
    probs = softmax(logits.reshape(-1, len(CLASSES)), temperature)
    return {
        "boxes": int(labels.size),
        "box_accuracy": float(right.mean()),
        "digit_box_accuracy": float(right[digits].mean()),
        "pair_accuracy": float(right.all(axis=1).mean()),
        "ece": expected_calibration_error(probs, labels.reshape(-1)),
    }


def augment_views(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Shift, scale and turn the views a little, change the stroke width, blur, add noise."""
    x = random_affine(x, cfg=PAIR_AUGMENT, generator=generator)
    x = stroke_width(x, cfg=PAIR_AUGMENT, generator=generator)
    return blur_and_noise(x, cfg=PAIR_AUGMENT, generator=generator).clamp(0.0, 1.0)


def train(args: argparse.Namespace) -> tuple[PairCNN, list[dict]]:
    """Train on the caches' train parts; returns the best model on validation and the
    per-epoch history."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    train_set, val = load_parts(args.pairs, "train"), load_parts(held_out(args), "val")
    log.info("%d training pairs, %d validation pairs", len(train_set.labels), len(val.labels))
    images = torch.from_numpy(train_set.images).unsqueeze(1)
    labels = torch.from_numpy(train_set.labels)
    model = PairCNN()
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps = int(np.ceil(len(images) / args.batch_size))
    progress = Progress(total_steps=steps * args.epochs)
    history, best, best_state = [], -1.0, None
    start = time.perf_counter()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator)
        for step in range(steps):
            for group in opt.param_groups:
                group["lr"] = one_cycle(progress.fraction, max_lr=args.lr)
            idx = order[step * args.batch_size : (step + 1) * args.batch_size]
            logits = model(augment_views(images[idx], generator))
            loss = F.cross_entropy(logits.reshape(-1, len(CLASSES)), labels[idx].reshape(-1))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            progress.step()
        val_scores = scores(pair_logits(model, val.images), val.labels)
        history.append({"epoch": epoch + 1, "loss": float(loss.detach()),
                        "seconds": time.perf_counter() - start, **val_scores})  # fmt: skip
        log.info("epoch %d: %s", epoch + 1, history[-1])
        if val_scores["box_accuracy"] > best:
            best = val_scores["box_accuracy"]
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval(), history


def export(model: PairCNN, history: list[dict], args: argparse.Namespace) -> dict:
    """Fit the temperature on validation, export the ONNX model, write its card."""
    val, test = load_parts(held_out(args), "val"), load_parts(held_out(args), "test")
    val_logits = pair_logits(model, val.images)
    temperature = fit_temperature(val_logits.reshape(-1, len(CLASSES)),
                                  np.eye(len(CLASSES))[val.labels.reshape(-1)])  # fmt: skip
    training_data = (
        "views of touching digits: MNIST training digits (CC BY-SA 3.0) minus 5,000 "
        "validation digits, written into ID boxes by idreader.synth, pushed across walls "
        "and cleaned by idreader.cells (training.pairs_data caches: "
        + ", ".join(Path(p).name for p in args.pairs)
        + f"); {len(load_parts(args.pairs, 'train').labels)} training pairs"
    )
    params = count_parameters(model)
    export_onnx(model, args.out, temperature=temperature, version=args.version,
                extra_metadata={"training_data": training_data, "architecture": "PairCNN",
                                "parameters": str(params), "created": dt.date.today().isoformat()},
                input_shape=(1, 28, 48), input_normalisation=INPUT_DESCRIPTION)  # fmt: skip
    import onnxruntime as ort

    session = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"cells": val.images[:256, None]})[0]
    diff = float(np.abs(onnx_logits - val_logits[:256]).max())
    if diff > 1e-4:
        raise RuntimeError(f"ONNX Runtime and torch disagree by {diff:.2e} (> 1e-4)")
    card = {
        "name": "idreader pair model (two touching digits)",
        "version": args.version,
        "date": dt.date.today().isoformat(),
        "file": Path(args.out).name,
        "size_bytes": Path(args.out).stat().st_size,
        "architecture": "PairCNN",
        "parameters": params,
        "opset": OPSET,
        "input": json.loads(INPUT_DESCRIPTION)["input"],
        "output": "logits: float32 (N, 2, 11), the left box's then the right one's; "
        "probabilities = softmax(logits / temperature)",
        "classes": list(CLASSES),
        "temperature": temperature,
        "training_data": training_data,
        "training": {
            "command": args.command,
            "epochs": len(history),
            "seconds": history[-1]["seconds"],
            "history": history,
        },  # fmt: skip
        "metrics": {
            "val": scores(val_logits, val.labels, temperature),
            "val_ece_before": scores(val_logits, val.labels)["ece"],
            "test": scores(pair_logits(model, test.images), test.labels, temperature),
            "onnx_vs_torch_max_abs_logit_diff": diff,
        },
    }
    if args.slice:
        # a few test views committed for the test suite, scored here by ONNX Runtime
        views = Pairs(test.images[: args.slice_size], test.labels[: args.slice_size])
        views.save(Path(args.slice))
        stored = Pairs.load(args.slice)
        logits = session.run(None, {"cells": stored.images[:, None]})[0]
        card["metrics"]["test_slice"] = {"file": Path(args.slice).name,
                                         **scores(logits, stored.labels, temperature)}  # fmt: skip
    Path(args.card).write_text(json.dumps(card, indent=2) + "\n")
    return card


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pairs", nargs="+", required=True, help="cache prefixes (training.pairs_data)")
    p.add_argument(
        "--held-out",
        nargs="+",
        default=None,
        help="prefixes of the val and test parts (default: --pairs)",
    )
    p.add_argument("--epochs", type=int, default=14)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", required=True)
    p.add_argument("--out", default="idreader/models/pairs.onnx")
    p.add_argument("--card", default="idreader/models/pairs.json")
    p.add_argument("--command", default="", help="the command line, for the card")
    p.add_argument("--slice", default="", help="write the first test views here (.npz)")
    p.add_argument("--slice-size", type=int, default=400)
    return p


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    args = build_parser().parse_args(argv)
    model, history = train(args)
    card = export(model, history, args)
    log.info("test: %s", card["metrics"]["test"])


if __name__ == "__main__":
    main()
