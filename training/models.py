"""Candidate CNNs for 28x28 digit/blank cells; every one normalises its own input.

The exported graph takes cells in [0, 1] (white ink on black), so normalisation lives
inside the model (:class:`Normalise`) and the runtime never has to know MNIST's
mean and standard deviation.
"""

from __future__ import annotations

import torch
from torch import nn

from .data import NUM_CLASSES

#: Mean and standard deviation of MNIST training pixels in [0, 1].
MNIST_MEAN = 0.1307
MNIST_STD = 0.3081


class Normalise(nn.Module):
    """``(x - mean) / std``, recorded in the ONNX metadata as ``input_normalisation``."""

    def __init__(self, mean: float = MNIST_MEAN, std: float = MNIST_STD) -> None:
        super().__init__()
        self.mean = mean
        self.std = std

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


def _conv_bn(c_in: int, c_out: int, *, stride: int = 1) -> list[nn.Module]:
    conv = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
    return [conv, nn.BatchNorm2d(c_out), nn.ReLU()]


def cnn3(*, dropout: float = 0.25) -> nn.Sequential:
    """Three conv+BN+ReLU layers (32-48-96 wide), each followed by 2x2 max-pooling,
    then one linear layer; ~65k parameters, ~4.9M multiply-adds per cell.

    Input ``(N, 1, 28, 28)`` in [0, 1]; output logits ``(N, 11)``.
    """
    return nn.Sequential(
        Normalise(),
        *_conv_bn(1, 32),
        nn.MaxPool2d(2),  # 14x14
        *_conv_bn(32, 48),
        nn.MaxPool2d(2),  # 7x7
        *_conv_bn(48, 96),
        nn.MaxPool2d(2),  # 3x3
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(96 * 3 * 3, NUM_CLASSES),
    )


def _tail(dropout: float) -> list[nn.Module]:
    """Blocks 3 and 4 and the head shared by the four-block designs (7x7 input)."""
    return [
        *_conv_bn(32, 64),
        *_conv_bn(64, 64),
        nn.MaxPool2d(2),  # 3x3
        *_conv_bn(64, 128),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Dropout(dropout),
        nn.Linear(128, NUM_CLASSES),
    ]


def blocks4(*, dropout: float = 0.2) -> nn.Sequential:
    """Four blocks, 16-32-64-128 wide, ~145k parameters.

    Block 1: a 3x3 conv at 28x28 and a stride-2 conv to 14x14 (cheaper than a second
    full-resolution conv plus pooling: with that design ONNX Runtime managed only ~4,000
    cells/s on one core); blocks 2 and 3: two convs each, then 2x2 max-pooling; block 4:
    one conv on the 3x3 map, global average pooling, a linear layer.
    Input ``(N, 1, 28, 28)`` in [0, 1]; output logits ``(N, 11)``.
    """
    return nn.Sequential(
        Normalise(),
        *_conv_bn(1, 16),
        *_conv_bn(16, 32, stride=2),  # 14x14
        *_conv_bn(32, 32),
        nn.MaxPool2d(2),  # 7x7
        *_tail(dropout),
    )


def blocks4_pool(*, dropout: float = 0.2) -> nn.Sequential:
    """The first four-block candidate: like :func:`blocks4` but with two full-resolution
    convs (16-16) and max-pooling in block 1; as accurate, too slow (~4,000 cells/s)."""
    return nn.Sequential(
        Normalise(),
        *_conv_bn(1, 16),
        *_conv_bn(16, 16),
        nn.MaxPool2d(2),  # 14x14
        *_conv_bn(16, 32),
        *_conv_bn(32, 32),
        nn.MaxPool2d(2),  # 7x7
        *_tail(dropout),
    )


class PairCNN(nn.Module):
    """Read two touching digits at once: a view of two boxes in, each box's logits out.

    Input ``(N, 2, 28, 48)`` in [0, 1] (:data:`idreader.cell_split.PAIR_SHAPE`: the
    boxes' cleaned ink and the boxes as scanned); output logits ``(N, 2, 11)``, the
    left box's then the right one's. Five conv layers (32-32-64-64-128 wide, the second
    strided, max-pooling after the third and the fifth) down to a 3x6 map that a
    linear layer reads whole: where ink lies (left or right of the wall in the middle)
    decides whose digit it is. ~190k parameters, ~20M multiply-adds per pair.
    """

    def __init__(self, *, channels: int = 2, dropout: float = 0.3) -> None:
        super().__init__()
        self.features = nn.Sequential(
            Normalise(),
            *_conv_bn(channels, 32),
            *_conv_bn(32, 32, stride=2),  # 14x24
            *_conv_bn(32, 64),
            nn.MaxPool2d(2),  # 7x12
            *_conv_bn(64, 64),
            *_conv_bn(64, 128),
            nn.MaxPool2d(2),  # 3x6
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(128 * 3 * 6, 2 * NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x).view(-1, 2, NUM_CLASSES)


class ContextCNN(nn.Module):
    """Read one box as scanned, its walls and what lies across them.

    Input ``(N, 1, 48, 48)`` in [0, 1] (:func:`idreader.cell_split.context_view`);
    output logits ``(N, 11)``. Six conv layers (32-32-64-64-128-128 wide, every second
    strided) down to a 6x6 map, global average pooling, a linear layer: a stroke on a
    line may lie anywhere around the box, so what is read must not depend on where.
    ~288k parameters, ~38M multiply-adds per box.
    """

    def __init__(self, *, dropout: float = 0.2) -> None:
        super().__init__()
        self.features = nn.Sequential(
            Normalise(),
            *_conv_bn(1, 32),
            *_conv_bn(32, 32, stride=2),  # 24x24
            *_conv_bn(32, 64),
            *_conv_bn(64, 64, stride=2),  # 12x12
            *_conv_bn(64, 128),
            *_conv_bn(128, 128, stride=2),  # 6x6
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(),
            nn.Dropout(dropout),
            nn.Linear(128, NUM_CLASSES),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features(x)


ARCHITECTURES = {"cnn3": cnn3, "blocks4": blocks4, "blocks4_pool": blocks4_pool}


def build_model(name: str) -> nn.Sequential:
    """A fresh, untrained model of architecture ``name`` (a key of ``ARCHITECTURES``).

    Examples
    --------
    >>> build_model("cnn3")(torch.zeros(2, 1, 28, 28)).shape
    torch.Size([2, 11])
    """
    try:
        return ARCHITECTURES[name]()
    except KeyError:
        raise ValueError(
            f"unknown architecture {name!r}; choose from {sorted(ARCHITECTURES)}"
        ) from None


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
