"""Train a model that reads views of boxes (the pair or the context model), calibrate
it and export it with its card.

The digit model reads one cleaned cell; the pair model (:mod:`training.train_pairs`)
and the context model (:mod:`training.train_context`) read views the reader makes of
boxes it is in doubt about, from caches of :class:`training.views.Views`. They are
trained the same way, so the loop, the calibration, the export and the card are here,
and each model says what differs in a :class:`ViewModel`.

Each cache prefix (``--pairs``, ``--views``) contributes its ``_train`` part, and its
``_val`` and ``_test`` parts unless ``--held-out`` names the prefixes to take those
from. The best epoch on validation is kept; the temperature is fitted on validation;
test is scored once, at the end, for the card.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from .calibrate import expected_calibration_error, fit_temperature, softmax
from .data import BLANK, CLASSES
from .export import OPSET, export_onnx
from .models import MNIST_MEAN, MNIST_STD, count_parameters
from .schedule import Progress, one_cycle
from .views import Views, load_parts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ViewModel:
    """What differs between the models trained here.

    Attributes
    ----------
    name : str
        The card's name for the model.
    architecture : str
        Its class in :mod:`training.models`, for the card.
    build : callable
        A fresh, untrained model: float ``(N, *shape)`` in [0, 1] to logits
        ``(N, 11)`` (one box) or ``(N, 2, 11)`` (two).
    shape : tuple of int
        One view: (channels, rows, cols). The caches hold views of one channel as
        ``(n, rows, cols)``.
    input : str
        What the input is, for the ONNX metadata and the card.
    output : str
        What the output is, for the card.
    views : str
        What the views are and what made them, for ``training_data``.
    caches : str
        The module that makes the caches, for ``training_data`` (their names follow).
    augment : callable
        ``augment(x, generator)``: a training batch ``(n, *shape)`` changed a little.
    label_smoothing : float
        Of the training loss.
    """

    name: str
    architecture: str
    build: Callable[[], torch.nn.Module]
    shape: tuple[int, int, int]
    input: str
    output: str
    views: str
    caches: str
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor]
    label_smoothing: float = 0.0

    @property
    def input_description(self) -> str:
        graph = f"(x - {MNIST_MEAN}) / {MNIST_STD}"
        return json.dumps({"input": self.input, "inside_graph": graph})


def held_out(args: argparse.Namespace) -> list[str]:
    """The cache prefixes whose val and test parts are used (``--held-out``, or all)."""
    return args.held_out or args.views


def with_channels(images: np.ndarray) -> np.ndarray:
    """Views as the model takes them, ``(n, channels, rows, cols)``: a cache's views of
    one channel, ``(n, rows, cols)``, get their channel axis."""
    return images[:, None] if images.ndim == 3 else images


@torch.no_grad()
def view_logits(model: torch.nn.Module, images: np.ndarray, *, batch: int = 1024) -> np.ndarray:
    """Logits of a cache's views (eval mode): ``(n, 11)`` or ``(n, 2, 11)``."""
    model.eval()
    images = with_channels(images)
    out = [model(torch.from_numpy(images[i : i + batch])).numpy()
           for i in range(0, len(images), batch)]  # fmt: skip
    if out:
        return np.concatenate(out)
    return model(torch.zeros(1, *images.shape[1:])).numpy()[:0]


def scores(logits: np.ndarray, labels: np.ndarray, temperature: float = 1.0) -> dict[str, float]:
    """Box accuracy, digit boxes' accuracy, both boxes' (views of two), ECE (15 bins)."""
    pred = logits.argmax(-1)
    right = pred == labels
    digits = labels != BLANK
    probs = softmax(logits.reshape(-1, len(CLASSES)), temperature)
    out = {
        "boxes": int(labels.size),
        "box_accuracy": float(right.mean()),
        "digit_box_accuracy": float(right[digits].mean()),
    }
    if labels.ndim == 2:
        out["pair_accuracy"] = float(right.all(axis=1).mean())
    return {**out, "ece": expected_calibration_error(probs, labels.reshape(-1))}


def train(spec: ViewModel, args: argparse.Namespace) -> tuple[torch.nn.Module, list[dict]]:
    """Train on the caches' train parts; returns the best model on validation and the
    per-epoch history."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    generator = torch.Generator().manual_seed(args.seed)
    train_set, val = load_parts(args.views, "train"), load_parts(held_out(args), "val")
    log.info("%d training views, %d validation views", len(train_set.labels), len(val.labels))
    images = torch.from_numpy(with_channels(train_set.images))
    labels = torch.from_numpy(train_set.labels)
    model = spec.build()
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
            logits = model(spec.augment(images[idx], generator))
            loss = F.cross_entropy(logits.reshape(-1, len(CLASSES)), labels[idx].reshape(-1),
                                   label_smoothing=spec.label_smoothing)  # fmt: skip
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            progress.step()
        val_scores = scores(view_logits(model, val.images), val.labels)
        history.append({"epoch": epoch + 1, "loss": float(loss.detach()),
                        "seconds": time.perf_counter() - start, **val_scores})  # fmt: skip
        log.info("epoch %d: %s", epoch + 1, history[-1])
        if val_scores["box_accuracy"] > best:
            best = val_scores["box_accuracy"]
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
    model.load_state_dict(best_state)
    return model.eval(), history


def export(
    spec: ViewModel, model: torch.nn.Module, history: list[dict], args: argparse.Namespace
) -> dict:
    """Fit the temperature on validation, export the ONNX model, write its card."""
    val, test = load_parts(held_out(args), "val"), load_parts(held_out(args), "test")
    val_logits = view_logits(model, val.images)
    temperature = fit_temperature(val_logits.reshape(-1, len(CLASSES)),
                                  np.eye(len(CLASSES))[val.labels.reshape(-1)])  # fmt: skip
    # only the labels are read: the training views themselves are not needed to count
    n_train = 0
    for prefix in args.views:
        with np.load(f"{prefix}_train.npz") as data:
            n_train += len(data["labels"])
    training_data = (
        f"{spec.views} ({spec.caches} caches: "
        + ", ".join(Path(p).name for p in args.views)
        + f"); {n_train} training views"
    )
    params = count_parameters(model)
    export_onnx(model, args.out, temperature=temperature, version=args.version,
                extra_metadata={"training_data": training_data,
                                "architecture": spec.architecture, "parameters": str(params),
                                "created": dt.date.today().isoformat()},
                input_shape=spec.shape,
                input_normalisation=spec.input_description)  # fmt: skip
    import onnxruntime as ort

    session = ort.InferenceSession(str(args.out), providers=["CPUExecutionProvider"])
    onnx_logits = session.run(None, {"cells": with_channels(val.images[:256])})[0]
    diff = float(np.abs(onnx_logits - val_logits[:256]).max())
    if diff > 1e-4:
        raise RuntimeError(f"ONNX Runtime and torch disagree by {diff:.2e} (> 1e-4)")
    card = {
        "name": spec.name,
        "version": args.version,
        "date": dt.date.today().isoformat(),
        "file": Path(args.out).name,
        "size_bytes": Path(args.out).stat().st_size,
        "architecture": spec.architecture,
        "parameters": params,
        "opset": OPSET,
        "input": spec.input,
        "output": spec.output,
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
            "test": scores(view_logits(model, test.images), test.labels, temperature),
            "onnx_vs_torch_max_abs_logit_diff": diff,
        },
    }
    if args.slice:
        # a few test views committed for the test suite, scored here by ONNX Runtime
        views = Views(test.images[: args.slice_size], test.labels[: args.slice_size])
        views.save(Path(args.slice))
        stored = Views.load(args.slice)
        logits = session.run(None, {"cells": with_channels(stored.images)})[0]
        card["metrics"]["test_slice"] = {"file": Path(args.slice).name,
                                         **scores(logits, stored.labels, temperature)}  # fmt: skip
    Path(args.card).write_text(json.dumps(card, indent=2) + "\n")
    return card


def build_parser(
    description: str, *, views: str, out: str, card: str, epochs: int
) -> argparse.ArgumentParser:
    """The options of every view model's trainer: the caches' option is ``views``
    (``--pairs``, ``--views``); ``out``, ``card``, ``epochs`` are defaults."""
    p = argparse.ArgumentParser(description=description)
    p.add_argument(views, dest="views", nargs="+", required=True, help="cache prefixes")
    p.add_argument(
        "--held-out",
        nargs="+",
        default=None,
        help=f"prefixes of the val and test parts (default: {views})",
    )
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=1e-4)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--version", required=True)
    p.add_argument("--out", default=out)
    p.add_argument("--card", default=card)
    p.add_argument("--command", default="", help="the command line, for the card")
    p.add_argument("--slice", default="", help="write the first test views here (.npz)")
    p.add_argument("--slice-size", type=int, default=400)
    return p


def run(spec: ViewModel, args: argparse.Namespace) -> dict:
    """Train, export and write the card; returns the card."""
    model, history = train(spec, args)
    card = export(spec, model, history, args)
    log.info("test: %s", card["metrics"]["test"])
    return card
