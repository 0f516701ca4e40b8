"""Calibrate a trained run and export it as the shipped ONNX model plus its model card.

Usage (from the repository root)::

    python -m training.export --run runs/full --version 1.0.0 \
        --out idreader/models/digits.onnx --card idreader/models/digits.json

Steps: load ``<run>/model.pt``; fit the temperature on ``<run>/val.npz``; export with
``torch.onnx.export`` (opset 17, dynamic batch, one file); write ``metadata_props``;
check ONNX Runtime agrees with torch within 1e-4; save TorchScript to ``<run>/model.ts``;
write the JSON model card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import logging
from pathlib import Path

import numpy as np
import torch

from .calibrate import expected_calibration_error, fit_temperature, softmax
from .data import CLASSES
from .dataset import Examples
from .models import MNIST_MEAN, MNIST_STD, build_model
from .train import predict_logits

log = logging.getLogger(__name__)

OPSET = 17
INPUT_NORMALISATION = json.dumps(
    {
        "input": "float32 (N, 1, 28, 28) in [0, 1], white ink on black, MNIST-style",
        "inside_graph": f"(x - {MNIST_MEAN}) / {MNIST_STD}",
    }
)


def export_onnx(
    model: torch.nn.Module,
    path: str | Path,
    *,
    temperature: float,
    version: str,
    extra_metadata: dict[str, str] | None = None,
    input_shape: tuple[int, ...] = (1, 28, 28),
    input_normalisation: str = INPUT_NORMALISATION,
) -> None:
    """Write ``model`` as a single-file ONNX graph ``cells (N,1,28,28) -> logits (N,11)``.

    The metadata holds ``classes``, ``input_normalisation``, ``temperature``, ``version``
    and ``training_data`` (pass it in ``extra_metadata``) plus any other extras. Another
    model (the pair model) passes its ``input_shape`` (one example's) and says what its
    input is in ``input_normalisation``.

    Examples
    --------
    >>> export_onnx(build_model("cnn3").eval(), "/tmp/m.onnx", temperature=1.0,
    ...             version="0")  # doctest: +SKIP
    """
    import onnx

    model = model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model,
        (torch.zeros(2, *input_shape),),
        buf,
        input_names=["cells"],
        output_names=["logits"],
        dynamic_axes={"cells": {0: "n"}, "logits": {0: "n"}},
        opset_version=OPSET,
        dynamo=False,
    )
    proto = onnx.load_from_string(buf.getvalue())
    metadata = {
        "classes": json.dumps(list(CLASSES)),
        "input_normalisation": input_normalisation,
        "temperature": repr(float(temperature)),
        "version": version,
        **(extra_metadata or {}),
    }
    del proto.metadata_props[:]
    for key, value in metadata.items():
        proto.metadata_props.add(key=key, value=value)
    proto.producer_name = "idreader-training"
    onnx.checker.check_model(proto, full_check=True)
    onnx.save_model(proto, str(path), save_as_external_data=False)


def max_abs_difference(model: torch.nn.Module, path: str | Path, images: np.ndarray) -> float:
    """Largest |torch - ONNX Runtime| logit difference on ``images`` float32 ``(n, 28, 28)``."""
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(["logits"], {"cells": images[:, None].astype(np.float32)})[0]
    return float(np.abs(onnx_logits - predict_logits(model, images)).max())


def save_torchscript(model: torch.nn.Module, path: str | Path) -> None:
    """Save a traced TorchScript copy (kept in the run folder, not shipped)."""
    traced = torch.jit.trace(model.eval(), torch.zeros(1, 1, 28, 28))
    traced.save(str(path))


def calibration_report(logits: np.ndarray, val: Examples) -> dict[str, float]:
    """Fit T on validation logits; ECE (15 bins) before and after, on hard-label examples."""
    temperature = fit_temperature(logits, val.targets)
    hard = val.labels >= 0
    return {
        "temperature": temperature,
        "val_ece_before": expected_calibration_error(softmax(logits[hard]), val.labels[hard]),
        "val_ece_after": expected_calibration_error(
            softmax(logits[hard], temperature), val.labels[hard]
        ),
        "val_accuracy": float((logits[hard].argmax(1) == val.labels[hard]).mean()),
    }


def describe_training_data(train_args: dict, history: dict) -> str:
    """One sentence naming every source the run trained on (for the metadata and card)."""
    parts = [
        "MNIST training set (CC BY-SA 3.0) minus 5,000 validation digits"
        + (f", first {train_args['subset']:,} only" if train_args.get("subset") else ""),
        "synthetic blank and scribble cells drawn in model space",
    ]
    if train_args.get("cells"):
        parts.append(
            "pipeline cells: MNIST training digits written into ID boxes by idreader.synth "
            f"and cleaned by idreader.cells ({len(train_args['cells'])} caches: "
            + ", ".join(Path(c).name for c in train_args["cells"])
            + ")"
        )
    return "; ".join(parts) + f"; {history.get('train_examples', '?')} training examples"


def run_export(args: argparse.Namespace) -> dict:
    """Calibrate, export and write the card for one run folder; returns the card dict."""
    run = Path(args.run)
    history = json.loads((run / "history.json").read_text())
    train_args = json.loads((run / "train_args.json").read_text())
    model = build_model(history["arch"])
    model.load_state_dict(torch.load(run / "model.pt", weights_only=True))
    model.eval()
    val = Examples.load(run / "val.npz")
    calib = calibration_report(predict_logits(model, val.images), val)
    log.info("calibration %s", calib)
    training_data = args.training_data or describe_training_data(train_args, history)
    export_onnx(
        model,
        args.out,
        temperature=calib["temperature"],
        version=args.version,
        extra_metadata={
            "training_data": training_data,
            "architecture": history["arch"],
            "parameters": str(history["params"]),
            "created": dt.date.today().isoformat(),
        },
    )
    diff = max_abs_difference(model, args.out, val.images[:256])
    if diff > 1e-4:
        raise RuntimeError(f"ONNX Runtime and torch disagree by {diff:.2e} (> 1e-4)")
    save_torchscript(model, run / "model.ts")
    card = {
        "name": "idreader digit/blank classifier",
        "version": args.version,
        "status": args.status,
        "date": dt.date.today().isoformat(),
        "file": Path(args.out).name,
        "size_bytes": Path(args.out).stat().st_size,
        "architecture": history["arch"],
        "parameters": history["params"],
        "opset": OPSET,
        "input": "cells: float32 (N, 1, 28, 28) in [0, 1], white ink on black, MNIST-style",
        "output": "logits: float32 (N, 11); probabilities = softmax(logits / temperature)",
        "classes": list(CLASSES),
        "input_normalisation": json.loads(INPUT_NORMALISATION),
        "temperature": calib["temperature"],
        "training_data": training_data,
        "training": {
            "command": args.train_command,
            "epochs": len(history["epochs"]),
            "seconds": history["epochs"][-1]["seconds"] if history["epochs"] else 0,
            "args": train_args,
            "validation": "5,000 digits held out of the MNIST training set, plus synthetic "
            "blank/scribble cells and pipeline cells generated with other seeds",
        },
        "metrics": {
            "val_accuracy": calib["val_accuracy"],
            "val_ece_before": calib["val_ece_before"],
            "val_ece_after": calib["val_ece_after"],
            "onnx_vs_torch_max_abs_logit_diff": diff,
        },
    }
    if args.note:
        card["training"]["note"] = args.note
    if args.comparison:
        card["architecture_comparison"] = json.loads(Path(args.comparison).read_text())
    card_path = Path(args.card)
    if card_path.exists():  # keep metrics that evaluate.py measured for this same version
        old = json.loads(card_path.read_text())
        if old.get("version") == args.version:
            card["metrics"] = {**old.get("metrics", {}), **card["metrics"]}
    card_path.write_text(json.dumps(card, indent=2) + "\n")
    return card


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", required=True, help="run folder written by training.train")
    p.add_argument("--out", default="idreader/models/digits.onnx")
    p.add_argument("--card", default="idreader/models/digits.json")
    p.add_argument("--version", required=True)
    p.add_argument("--status", default="release", help="e.g. 'preliminary' or 'release'")
    p.add_argument("--training-data", default=None, help="default: described from the run")
    p.add_argument("--train-command", default="", help="the command that trained the run")
    p.add_argument("--comparison", default=None, help="JSON from training.compare, for the card")
    p.add_argument(
        "--note", default="", help="provenance sentence for the card (e.g. what was fine-tuned)"
    )
    return p


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    run_export(build_parser().parse_args(argv))


if __name__ == "__main__":
    main()
