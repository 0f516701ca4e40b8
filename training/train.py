"""Train the digit/blank CNN.

Usage (from the repository root)::

    python -m training.train --data-dir ../shared/data/mnist --arch cnn3 --epochs 12 \
        --cells runs/cells/synth --out runs/full
    python -m training.train --quick --out runs/quick     # < 2 min on one core
    # fine-tune the shipped weights on new cells with a low LR
    python -m training.train --arch blocks4 --init idreader/models/digits.onnx --lr 3e-4 \
        --budget-minutes 20 --cells runs/cells_v11/cur10 --out runs/finetune

Writes into ``--out``: ``model.pt`` (state dict of the best-validation epoch),
``checkpoint.pt`` (last epoch, with optimiser, to resume), ``val.npz`` (the validation
examples, reused by calibration and export), ``history.json`` and ``train_args.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

from .augment import AugmentConfig, augment
from .data import DEFAULT_DATA_DIR
from .dataset import Examples, build_datasets
from .models import build_model, count_parameters
from .onnx_weights import load_onnx_weights
from .schedule import Progress, one_cycle

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class TrainResult:
    """What a training run produced: the best model, its run folder and its history."""

    model: torch.nn.Module
    out_dir: Path
    history: dict


def soft_cross_entropy(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy against soft targets ``(N, 11)`` (rows summing to 1)."""
    return -(targets * F.log_softmax(logits, dim=1)).sum(dim=1).mean()


@torch.no_grad()
def predict_logits(model: torch.nn.Module, images: np.ndarray, *, batch: int = 1024) -> np.ndarray:
    """Logits ``(n, 11)`` of ``images`` float32 ``(n, 28, 28)`` (eval mode)."""
    model.eval()
    out = [
        model(torch.from_numpy(images[i : i + batch]).unsqueeze(1)).numpy()
        for i in range(0, len(images), batch)
    ]
    return np.concatenate(out) if out else np.zeros((0, 11), np.float32)


def accuracy(logits: np.ndarray, examples: Examples) -> float:
    """Top-1 accuracy over examples with a hard label (scribbles excluded)."""
    labels = examples.labels
    hard = labels >= 0
    return float((logits[hard].argmax(1) == labels[hard]).mean())


def accuracy_by_source(logits: np.ndarray, examples: Examples) -> dict[str, float]:
    """Top-1 accuracy per example source (``mnist``, ``cells_val``, ...), hard labels only."""
    labels, pred = examples.labels, logits.argmax(1)
    return {
        str(src): float((pred[m] == labels[m]).mean())
        for src in np.unique(examples.source)
        if (m := (examples.source == src) & (labels >= 0)).any()
    }


def _train_epoch(
    model: torch.nn.Module,
    ema: AveragedModel,
    opt: torch.optim.Optimizer,
    progress: Progress,
    train_set: Examples,
    *,
    args: argparse.Namespace,
    generator: torch.Generator,
    epoch: int,
) -> list[float]:
    """One pass over ``train_set`` in random order (cut short when ``progress`` is done);
    returns the logged mean losses."""
    images = torch.from_numpy(train_set.images).unsqueeze(1)
    targets = torch.from_numpy(train_set.targets)
    steps = int(np.ceil(len(images) / args.batch_size))
    order = torch.randperm(len(images), generator=generator)
    aug_cfg = AugmentConfig(p_thin=args.p_thin, p_fragment=args.p_fragment)
    logged, running = [], 0.0
    model.train()
    for step in range(steps):
        if progress.done:
            break
        for group in opt.param_groups:
            group["lr"] = one_cycle(progress.fraction, max_lr=args.lr)
        idx = order[step * args.batch_size : (step + 1) * args.batch_size]
        x = images[idx]
        if not args.no_augment:
            x = augment(x, cfg=aug_cfg, generator=generator)
        loss = soft_cross_entropy(
            model(x.contiguous(memory_format=torch.channels_last)), targets[idx]
        )
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        progress.step()
        ema.update_parameters(model)
        running += float(loss.detach())
        if (step + 1) % args.log_every == 0:
            logged.append(running / args.log_every)
            log.info("epoch %d step %d/%d loss %.4f", epoch, step + 1, steps, logged[-1])
            running = 0.0
    return logged


def train(args: argparse.Namespace) -> TrainResult:
    """Run one training job described by parsed command-line ``args`` (see ``main``)."""
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "train_args.json").write_text(json.dumps(vars(args), indent=2, default=str))
    train_set, val_set = build_datasets(
        args.data_dir,
        n_val=args.n_val,
        cell_caches=[Path(c) for c in args.cells],
        subset=args.subset,
        seed=args.seed,
    )
    val_set.save(out / "val.npz")
    log.info("train %d examples, val %d", len(train_set), len(val_set))
    # channels-last convolutions train ~1.6x faster on CPU (oneDNN).
    model = build_model(args.arch)
    if args.init is not None:
        # Fine-tuning: start from given weights (a run's model.pt or a shipped ONNX
        # file); the EMA below copies them, so validation starts from the given model,
        # not from noise.
        if Path(args.init).suffix == ".onnx":
            sample = np.random.default_rng(args.seed).choice(
                len(train_set), min(4096, len(train_set)), replace=False
            )
            load_onnx_weights(model, args.init, train_set.images[np.sort(sample)])
        else:
            model.load_state_dict(torch.load(args.init, weights_only=True))
        log.info("initial weights from %s", args.init)
    model = model.to(memory_format=torch.channels_last)
    # The exponential moving average of the weights (BN buffers included) is what gets
    # validated and saved: it generalises better than the last step's weights.
    ema = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(args.ema), use_buffers=True)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=args.weight_decay)
    steps_per_epoch = int(np.ceil(len(train_set) / args.batch_size))
    budget = None if args.budget_minutes is None else 60.0 * args.budget_minutes
    progress = Progress(total_steps=args.epochs * steps_per_epoch, budget_s=budget)
    history: dict = {
        "arch": args.arch,
        "params": count_parameters(model),
        "train_examples": len(train_set),
        "epochs": [],
        "step_loss": [],
    }
    start_epoch = 0
    ckpt_path = out / "checkpoint.pt"
    if args.resume and ckpt_path.exists():
        ckpt = torch.load(ckpt_path, weights_only=False)
        for obj, key in ((model, "model"), (ema, "ema"), (opt, "opt"), (progress, "progress")):
            obj.load_state_dict(ckpt[key])
        history, start_epoch = ckpt["history"], ckpt["epoch"] + 1
    gen = torch.Generator().manual_seed(args.seed + start_epoch)
    best = max((e["val_acc"] for e in history["epochs"]), default=-1.0)
    for epoch in range(start_epoch, args.epochs):
        if progress.done:
            break
        history["step_loss"] += _train_epoch(
            model, ema, opt, progress, train_set, args=args, generator=gen, epoch=epoch
        )
        val_logits = predict_logits(ema.module, val_set.images)
        record = {
            "epoch": epoch,
            "val_acc": accuracy(val_logits, val_set),
            "val_loss": float(
                soft_cross_entropy(torch.from_numpy(val_logits), torch.from_numpy(val_set.targets))
            ),
            "val_acc_by_source": accuracy_by_source(val_logits, val_set),
            "steps": progress.steps,
            "seconds": round(progress.seconds, 1),
        }
        history["epochs"].append(record)
        log.info("epoch %s", json.dumps(record))
        if record["val_acc"] >= best:
            best = record["val_acc"]
            torch.save(ema.module.state_dict(), out / "model.pt")
        torch.save(
            {
                "model": model.state_dict(),
                "ema": ema.state_dict(),
                "opt": opt.state_dict(),
                "progress": progress.state_dict(),
                "history": history,
                "epoch": epoch,
            },
            ckpt_path,
        )
        (out / "history.json").write_text(json.dumps(history, indent=2))
    model = build_model(args.arch)
    model.load_state_dict(torch.load(out / "model.pt", weights_only=True))
    model.eval()
    return TrainResult(model=model, out_dir=out, history=history)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=str(DEFAULT_DATA_DIR), help="MNIST IDX gzip folder")
    p.add_argument("--out", default="runs/train", help="run folder (created)")
    p.add_argument("--arch", default="cnn3", help="architecture name (training/models.py)")
    p.add_argument("--epochs", type=int, default=12, help="epochs (at most, with a budget)")
    p.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="stop after this much training time; the LR schedule follows it",
    )
    p.add_argument("--batch-size", type=int, default=128)
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--weight-decay", type=float, default=5e-4)
    p.add_argument("--n-val", type=int, default=5000)
    p.add_argument("--subset", type=int, default=None, help="MNIST training digits to use")
    p.add_argument(
        "--cells",
        action="append",
        default=[],
        help="cell cache prefix from training.cells_data (repeatable)",
    )
    p.add_argument("--ema", type=float, default=0.999, help="weight EMA decay per step")
    p.add_argument("--no-augment", action="store_true")
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--log-every", type=int, default=50)
    p.add_argument("--resume", action="store_true", help="continue from checkpoint.pt")
    p.add_argument(
        "--init",
        default=None,
        help="start from these weights (a model.pt state dict or an ONNX file exported from "
        "the same --arch): fine-tuning",
    )
    p.add_argument(
        "--p-thin",
        type=float,
        default=AugmentConfig.p_thin,
        help="probability of thinning (2x2 erosion) a training image",
    )
    p.add_argument(
        "--p-fragment",
        type=float,
        default=AugmentConfig.p_fragment,
        help="probability of drawing a box-wall fragment along an edge of a training image",
    )
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 3,000 digits, 1 epoch, 1 thread (< 2 min)"
    )
    return p


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    args = build_parser().parse_args(argv)
    if args.quick:
        args.subset, args.epochs, args.threads, args.n_val = 3000, 1, 1, 500
        args.log_every, args.ema = 2, 0.8
    return args


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    train(parse_args(argv))


if __name__ == "__main__":
    main()
