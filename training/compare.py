"""Compare architectures from short training runs: accuracy and inference speed.

Usage (from the repository root; one short run per architecture first)::

    python -m training.train --arch cnn3 --subset 15000 --epochs 2 \
        --cells runs/cells/synth --out runs/cmp_cnn3
    python -m training.compare runs/cmp_cnn3 runs/cmp_blocks4 --val runs/cmp_blocks4/val.npz \
        --out runs/comparison.json

Speed is measured here, all candidates in the same process: ONNX Runtime, one thread,
batch 64, best of three 1-second windows.
"""

from __future__ import annotations

import argparse
import io
import json
import time
from pathlib import Path

import numpy as np
import torch

from .dataset import Examples
from .models import build_model
from .train import accuracy, accuracy_by_source, predict_logits


def ort_cells_per_second(model: torch.nn.Module, *, batch: int = 64, seconds: float = 3.0) -> float:
    """Cells/s of ``model`` exported to ONNX, run by ONNX Runtime on one thread."""
    import onnxruntime as ort

    buf = io.BytesIO()
    torch.onnx.export(
        model.eval(),
        (torch.zeros(1, 1, 28, 28),),
        buf,
        input_names=["cells"],
        output_names=["logits"],
        dynamic_axes={"cells": {0: "n"}},
        opset_version=17,
        dynamo=False,
    )
    options = ort.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = ort.InferenceSession(buf.getvalue(), options, providers=["CPUExecutionProvider"])
    feed = {"cells": np.random.default_rng(0).random((batch, 1, 28, 28), np.float32)}
    session.run(None, feed)
    best = 0.0
    for _ in range(3):
        n, t0 = 0, time.perf_counter()
        while time.perf_counter() - t0 < seconds / 3:
            session.run(None, feed)
            n += batch
        best = max(best, n / (time.perf_counter() - t0))
    return best


def compare(runs: list[Path], *, val: Examples) -> list[dict]:
    """One row per run folder: architecture, parameters, accuracy on ``val``, speed.

    All runs are scored on the same validation examples (pass the ``val.npz`` of one of
    them: the split is fixed by the seed, so it holds no run's training data).
    """
    rows = []
    for run in runs:
        history = json.loads((run / "history.json").read_text())
        args = json.loads((run / "train_args.json").read_text())
        model = build_model(history["arch"])
        model.load_state_dict(torch.load(run / "model.pt", weights_only=True))
        logits = predict_logits(model, val.images)
        rows.append(
            {
                "run": run.name,
                "arch": history["arch"],
                "params": history["params"],
                "epochs": len(history["epochs"]),
                "subset": args.get("subset"),
                "val_acc": accuracy(logits, val),
                "val_acc_by_source": accuracy_by_source(logits, val),
                "ort_cells_per_s_1thread_b64": round(ort_cells_per_second(model)),
            }
        )
    return rows


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--val", type=Path, required=True, help="val.npz all runs are scored on")
    p.add_argument("--out", type=Path, default=Path("runs/comparison.json"))
    args = p.parse_args(argv)
    args.out.write_text(
        json.dumps(compare(args.runs, val=Examples.load(args.val)), indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
